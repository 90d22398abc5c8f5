"""The Open Inference Protocol (KServe V2, also Triton's, MLServer's and OpenVINO's) beside TF
Serving's: its tensors and metadata, for the REST (serving/oip_rest.py) and gRPC
(serving/oip_grpc.py) surfaces. A model is served by its default signature, or the one a request
names in `parameters.signature_name`.

Tensors: a datatype name (FP32, INT64, BYTES…), a shape, and the data flat in row-major order,
as JSON, as the binary extension's raw bytes (REST), or as raw_input_contents or typed contents
(gRPC). BYTES elements travel raw as a 4-byte little-endian length and the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from serving.errors import ServingError, invalid
from serving.servable import DEFAULT_SIGNATURE, Servable, Signature, TensorSpec
from serving.service import Service, Target

SERVER_NAME = "keras-deploy-model-server"
SERVER_VERSION = "0.1.0"
# the REST binary tensor extension (Triton's name for it); gRPC's raw contents are core
EXTENSIONS = ["binary_tensor_data"]
PLATFORM = "tensorflow_savedmodel"

DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_NAMES = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}


def datatype_of(dtype: np.dtype) -> str:
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _NAMES[np.dtype(dtype)]
    except KeyError:
        raise invalid(f"dtype {dtype} has no Open Inference Protocol datatype") from None


def shape_of(spec: TensorSpec) -> list[int]:
    return [-1] if spec.shape is None else [int(d) for d in spec.shape]


def tensor_metadata(spec: TensorSpec) -> dict:
    return {"name": spec.key, "datatype": datatype_of(spec.dtype), "shape": shape_of(spec)}


def target(name: str, version: str | None) -> Target:
    """A model and its version as the protocol names them: the version a decimal string or ""."""
    if not name:
        raise invalid("no model name")
    if not version:
        return Target(name)
    if not version.isascii() or not version.isdigit() or len(version) > 18:
        raise invalid(f"version {version!r} is not a version number")
    return Target(name, int(version))


def model_metadata(service: Service, t: Target) -> dict:
    """Name, versions, platform, and the default signature's inputs and outputs."""
    servable = service.resolve(t)
    sig = _signature(service, servable, None)
    versions = (
        service.manager.models[servable.name].available() if t.version is None else [t.version]
    )
    return {
        "name": servable.name,
        "versions": [str(v) for v in sorted(versions)],
        "platform": PLATFORM,
        # by name: a SignatureDef's maps have no order of their own
        "inputs": [tensor_metadata(sig.inputs[k]) for k in sorted(sig.inputs)],
        "outputs": [tensor_metadata(sig.outputs[k]) for k in sorted(sig.outputs)],
    }


def model_ready(service: Service, t: Target) -> bool:
    try:
        service.resolve(t)
    except ServingError:
        return False
    return not service.draining


def server_ready(service: Service) -> bool:
    return service.manager.ready()[0] and not service.draining


def _signature(service: Service, servable: Servable, name: str | None) -> Signature:
    return service.signature(servable, name or DEFAULT_SIGNATURE)


# -- tensors in -----------------------------------------------------------------------------


def _check_shape(name: str, shape) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise invalid(f"input '{name}': shape must be a list of non-negative integers, got {shape}")
    return tuple(shape)


def _dtype(name: str, datatype) -> np.dtype:
    if datatype not in DATATYPES:
        raise invalid(f"input '{name}': datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    return DATATYPES[datatype]


def from_raw(name: str, datatype, shape, raw: bytes | memoryview) -> np.ndarray:
    """A tensor from its raw bytes: little-endian, row-major; BYTES length-prefixed."""
    dtype, dims = _dtype(name, datatype), _check_shape(name, shape)
    count = int(np.prod(dims, dtype=np.int64))
    if datatype == "BYTES":
        return _bytes_from_raw(name, raw, count).reshape(dims)
    want = count * dtype.itemsize
    if len(raw) != want:
        raise invalid(
            f"input '{name}': {datatype} {list(dims)} takes {want} bytes of raw data, got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(dims)


def _bytes_from_raw(name: str, raw: bytes | memoryview, count: int) -> np.ndarray:
    items, at, raw = [], 0, memoryview(raw)
    while at < len(raw):
        if at + 4 > len(raw):
            raise invalid(f"input '{name}': BYTES raw data ends inside an element's length")
        (size,) = struct.unpack_from("<I", raw, at)
        if at + 4 + size > len(raw):
            raise invalid(f"input '{name}': BYTES element {len(items)} is cut short")
        items.append(bytes(raw[at + 4 : at + 4 + size]))
        at += 4 + size
    if len(items) != count:
        raise invalid(
            f"input '{name}': BYTES shape takes {count} elements, raw data holds {len(items)}"
        )
    out = np.empty(count, dtype=object)
    out[:] = items
    return out


def from_list(name: str, datatype, shape, data) -> np.ndarray:
    """A tensor from JSON data: the elements flat (or nested) in row-major order."""
    dtype, dims = _dtype(name, datatype), _check_shape(name, shape)
    count = int(np.prod(dims, dtype=np.int64))
    flat = _flatten(data)
    if len(flat) != count:
        raise invalid(
            f"input '{name}': shape {list(dims)} takes {count} elements, data holds {len(flat)}"
        )
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise invalid(f"input '{name}': BYTES data must be strings")
        out = np.empty(count, dtype=object)
        out[:] = [v.encode() for v in flat]
        return out.reshape(dims)
    kind_ok = (lambda v: isinstance(v, bool)) if datatype == "BOOL" else _is_number
    if not all(kind_ok(v) for v in flat):
        bad = next(v for v in flat if not kind_ok(v))
        raise invalid(f"input '{name}': {bad!r} is not a {datatype} value")
    try:
        with np.errstate(over="raise", invalid="raise"):
            values = np.asarray(flat, dtype=np.float64 if dtype.kind == "f" else None)
            if dtype.kind in "iu" and values.dtype.kind == "f":
                raise invalid(f"input '{name}': {datatype} data must be whole numbers")
            info = np.iinfo(dtype) if dtype.kind in "iu" else None
            if (
                info is not None
                and values.size
                and (values.min() < info.min or values.max() > info.max)
            ):
                raise invalid(f"input '{name}': a value is outside {datatype}'s range")
            return values.astype(dtype).reshape(dims)
    except (OverflowError, FloatingPointError):
        raise invalid(f"input '{name}': a value is outside {datatype}'s range") from None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _flatten(data) -> list:
    if not isinstance(data, list):
        return [data]
    if all(not isinstance(v, list) for v in data):
        return data
    out: list = []
    for v in data:
        out.extend(_flatten(v))
    return out


_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def from_contents(name: str, datatype, shape, contents) -> np.ndarray:
    """A tensor from gRPC's typed InferTensorContents (FP16 has none: it comes raw)."""
    field = _CONTENTS.get(datatype)
    if field is None:
        _dtype(name, datatype)
        raise invalid(f"input '{name}': {datatype} must be sent as raw_input_contents")
    dtype, dims = DATATYPES[datatype], _check_shape(name, shape)
    count = int(np.prod(dims, dtype=np.int64))
    values = getattr(contents, field)
    if len(values) != count:
        raise invalid(
            f"input '{name}': shape {list(dims)} takes {count} elements, contents hold {len(values)}"
        )
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        out[:] = list(values)
        return out.reshape(dims)
    array = np.asarray(values)
    if dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise invalid(f"input '{name}': a value is outside {datatype}'s range")
    return array.astype(dtype).reshape(dims)


# -- tensors out ----------------------------------------------------------------------------


def to_raw(array: np.ndarray) -> bytes:
    if array.dtype == object:
        parts = []
        for v in array.reshape(-1):
            b = v if isinstance(v, bytes) else str(v).encode()
            parts += [struct.pack("<I", len(b)), b]
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def to_list(array: np.ndarray) -> list:
    flat = array.reshape(-1)
    if array.dtype == object:
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


# -- one inference --------------------------------------------------------------------------


@dataclass
class Inference:
    servable: Servable
    outputs: dict[str, np.ndarray]  # those asked for, or every one


async def infer(
    service: Service,
    servable: Servable,
    inputs: dict[str, np.ndarray],
    requested: list[str],
    parameters: dict,
) -> Inference:
    """Runs the model (resolved by the caller) on named inputs; `requested` output names
    (empty: all of them)."""
    signature_name = parameters.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise invalid("parameters.signature_name must be a string")
    sig = _signature(service, servable, signature_name)
    unknown = [k for k in requested if k not in sig.outputs]
    if unknown:
        raise invalid(
            f"unexpected output '{unknown[0]}': the model's outputs are {', '.join(sorted(sig.outputs))}"
        )
    missing = sorted(set(sig.inputs) - set(inputs))
    extra = sorted(set(inputs) - set(sig.inputs))
    if missing or extra:
        what = f"no input '{missing[0]}'" if missing else f"unexpected input '{extra[0]}'"
        raise invalid(f"{what}: the model's inputs are {', '.join(sorted(sig.inputs))}")
    for key, value in inputs.items():
        want, got = datatype_of(sig.inputs[key].dtype), datatype_of(value.dtype)
        if want != got:
            raise invalid(f"input '{key}' has datatype {got}, the model takes {want}")
    result = await service.predict(servable, sig, inputs, requested or None, exact_dtypes=True)
    return Inference(servable, result.outputs)
