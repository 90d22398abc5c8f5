"""One loaded SavedModel version: its signatures, checked inputs, predict/classify/regress, warm-up."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving.errors import ServingError, invalid
from serving.images import DECODE_OPS

if TYPE_CHECKING:
    from serving.batching import Batcher

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
INIT_OP = "__saved_model_init_op"  # a signature-map entry that is not a servable signature
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's cap on warm-up records per model version


@dataclass(frozen=True)
class TensorSpec:
    key: str  # the alias clients use ("image")
    dtype: np.dtype  # numpy dtype; object for DT_STRING
    dtype_enum: int  # types_pb2.DataType
    shape: tuple[int, ...] | None  # -1 for unknown dims; None for unknown rank

    @property
    def dtype_name(self) -> str:  # "float", "string": the words TF uses in its messages
        return types_pb2.DataType.Name(self.dtype_enum).removeprefix("DT_").lower()


@dataclass(frozen=True)
class Signature:
    name: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    proto: meta_graph_pb2.SignatureDef


def _spec(key: str, info: meta_graph_pb2.TensorInfo) -> TensorSpec:
    shape = None
    if not info.tensor_shape.unknown_rank:
        shape = tuple(int(d.size) for d in info.tensor_shape.dim)
    dtype = tf.as_dtype(info.dtype)
    numpy_dtype = np.dtype(object) if dtype == tf.string else dtype.as_numpy_dtype
    return TensorSpec(key, np.dtype(numpy_dtype), info.dtype, shape)


def read_meta_graph(path: Path) -> meta_graph_pb2.MetaGraphDef:
    """The "serve" MetaGraphDef of saved_model.pb (the first one if none is tagged so)."""
    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    return next(
        (g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags), saved.meta_graphs[0]
    )


def read_signatures(
    path: Path, graph: meta_graph_pb2.MetaGraphDef | None = None
) -> dict[str, Signature]:
    """The SignatureDefs stored in saved_model.pb, the same protos GetModelMetadata returns."""
    graph = graph or read_meta_graph(path)
    return {
        name: Signature(
            name,
            sig.method_name,
            {k: _spec(k, v) for k, v in sig.inputs.items()},
            {k: _spec(k, v) for k, v in sig.outputs.items()},
            sig,
        )
        for name, sig in graph.signature_def.items()
        if name != INIT_OP
    }


def decodes_images(graph: meta_graph_pb2.MetaGraphDef) -> bool:
    """Whether the graph, or a function in its library, has an image-decoding op."""
    ops = {node.op for node in graph.graph_def.node}
    for function in graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return not ops.isdisjoint(DECODE_OPS)


def check_input(spec: TensorSpec, value: np.ndarray, exact_dtype: bool = False) -> np.ndarray:
    """Cast and shape-check one input before TensorFlow sees it.

    A wrong rank must never reach the kernels: some CPU kernels abort the process on it. JSON
    numbers are cast to the signature's dtype; a TensorProto (gRPC) must carry the exact dtype.
    """
    if value.dtype is spec.dtype and _fits(spec.shape, value.shape):  # the common case, at once
        return value
    if spec.dtype == object:
        if value.dtype != object and value.dtype.kind not in "SU":
            raise invalid(
                f"Expects arg for input '{spec.key}' to be string but {value.dtype.name} is provided"
            )
        value = value.astype(object)
    else:
        if value.dtype == object or value.dtype.kind in "SU":
            raise invalid(
                f"Expects arg for input '{spec.key}' to be {spec.dtype_name} but string is provided"
            )
        if value.dtype != spec.dtype:
            if exact_dtype:
                raise invalid(
                    f"Expects arg for input '{spec.key}' to be {spec.dtype_name} "
                    f"but {tf.as_dtype(value.dtype).name} is provided"
                )
            if not np.can_cast(value.dtype, spec.dtype, casting="same_kind") and not (
                value.dtype.kind in "iub" and spec.dtype.kind == "f"
            ):
                raise invalid(
                    f"Expects arg for input '{spec.key}' to be {spec.dtype_name} "
                    f"but {value.dtype.name} is provided"
                )
            value = value.astype(spec.dtype)
    if not _fits(spec.shape, value.shape):
        want = "[" + ",".join("?" if d < 0 else str(d) for d in spec.shape) + "]"
        raise invalid(
            f"input '{spec.key}' has shape [{','.join(map(str, value.shape))}] "
            f"but the signature expects {want}"
        )
    return value


def _fits(want: tuple[int, ...] | None, got: tuple[int, ...]) -> bool:
    """Whether a shape matches a signature's (-1: any size; None: any rank)."""
    if want is None:
        return True
    if len(want) != len(got):
        return False
    # a loop, not all() over a generator: that costs more than the check itself, per request
    for w, g in zip(want, got, strict=True):  # noqa: SIM110
        if w >= 0 and w != g:
            return False
    return True


class Servable:
    """A SavedModel version loaded into its own graph and session, as TF Serving runs a bundle.

    Signatures run through the C++ Session::MakeCallable API (fixed feeds and fetches, as TF
    Serving runs a signature): the TF runtime executes with the GIL released and next to no Python
    around it, which is what lets the event loop keep parsing requests while a batch runs. The
    public `make_callable` with a feed list falls back to the whole `Session.run` feed and fetch
    machinery (about 45 us more interpreter time per call here), and an eager
    `loaded.signatures[...]` call costs several times more. `run` is thread-safe.
    """

    def __init__(self, name: str, version: int, path: Path, threads: tuple[int, int] = (0, 0)):
        self.name, self.version, self.path = name, version, path
        graph = read_meta_graph(path)
        self.signatures = read_signatures(path, graph)
        self.decodes_images = decodes_images(graph)  # whether its image inputs are checked
        intra, inter = threads  # 0: TensorFlow chooses
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=intra, inter_op_parallelism_threads=inter
        )
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)
        with self._graph.as_default():
            tf.compat.v1.saved_model.loader.load(self._session, ["serve"], str(path))
        self._callables: dict[tuple, tuple] = {}
        self._lock = threading.Lock()
        # per-signature batch queues that the serving layer keeps here, so that they go with this
        # version when it unloads (a dict lookup; a WeakKeyDictionary made a weakref per request)
        self.batchers: dict[str, Batcher] = {}

    def _callable(self, sig: Signature, keys: tuple[str, ...]):
        entry = self._callables.get((sig.name, keys))
        if entry is None:
            with self._lock:
                outputs = tuple(sorted(sig.outputs))
                options = config_pb2.CallableOptions(
                    feed=[sig.proto.inputs[k].name for k in keys],
                    fetch=[sig.proto.outputs[k].name for k in outputs],
                )
                # TF's own wrapper of Session::MakeCallable (session.py; Keras 2 ran on it)
                fn = self._session._make_callable_from_options(options)
                entry = self._callables[(sig.name, keys)] = (fn, outputs)
        return entry

    def find(self, name: str) -> Signature | None:
        """The named signature (serving_default when the name is empty), or None."""
        return self.signatures.get(name or DEFAULT_SIGNATURE)

    def example_signature(self, name: str, method: str) -> Signature:
        """A classify or regress signature, checked by shape as TF Serving does by default."""
        sig = self.find(name)
        if sig is None:
            raise invalid(f"No signature was found with the name: {name or DEFAULT_SIGNATURE}")
        if len(sig.inputs) != 1:
            raise invalid("Expected one input Tensor.")
        if method == CLASSIFY_METHOD:
            if len(sig.outputs) not in (1, 2):
                raise invalid(f"Expected one or two output Tensors, found {len(sig.outputs)}")
            if "inputs" not in sig.inputs:
                raise invalid(f"No classification inputs found in SignatureDef: {sig.proto}")
            if not {"classes", "scores"} & set(sig.outputs):
                raise invalid(
                    'Expected classification signature outputs to contain at least one of "classes" '
                    f'or "scores". Signature was: {sig.proto}'
                )
        else:
            if len(sig.outputs) != 1:
                raise invalid("Expected one output Tensor.")
            if "inputs" not in sig.inputs:
                raise invalid(f"No regression inputs found in SignatureDef: {sig.proto}")
            if "outputs" not in sig.outputs:
                raise invalid(f"No regression outputs found in SignatureDef: {sig.proto}")
        return sig

    def prepare(
        self, sig: Signature, inputs: dict[str, np.ndarray], exact_dtypes: bool = False
    ) -> dict[str, np.ndarray]:
        """Validate a request's inputs against the signature: names, dtypes, shapes, batch size."""
        if inputs.keys() != sig.inputs.keys():
            _name_error(sig, inputs)
        checked = {
            key: check_input(sig.inputs[key], value, exact_dtypes) for key, value in inputs.items()
        }
        if len(checked) > 1 and len({v.shape[0] if v.ndim else None for v in checked.values()}) > 1:
            raise invalid("Input tensors must have the same size in the 0th (batch) dimension")
        return checked

    def run(self, sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the signature on checked inputs; outputs as numpy, keyed by output alias."""
        keys = tuple(sorted(inputs))
        fn, outputs = self._callable(sig, keys)
        try:
            values = fn(*(inputs[k] for k in keys))
        except tf.errors.OpError as e:
            raise ServingError(
                _CODES.get(e.error_code, grpc.StatusCode.UNKNOWN), _first_line(e)
            ) from e
        except (ValueError, TypeError) as e:
            raise invalid(_first_line(e)) from e
        return dict(zip(outputs, values, strict=True))

    def warm_up(self, iterations: int = 1) -> int:
        """Replay assets.extra/tf_serving_warmup_requests; returns how many requests ran."""
        path = self.path / WARMUP_FILE
        if not path.exists():
            return 0
        count = 0
        for log in _warmup_records(path):
            kind = log.WhichOneof("log_type")
            if kind is None:
                continue
            if kind == "predict_log":
                request = log.predict_log.request
                sig = self.find(request.model_spec.signature_name)
                if sig is None:
                    raise invalid(
                        f'Serving signature key "{request.model_spec.signature_name}" not found.'
                    )
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            elif kind in ("classify_log", "regress_log"):
                request = getattr(log, kind).request
                method = CLASSIFY_METHOD if kind == "classify_log" else REGRESS_METHOD
                sig = self.example_signature(request.model_spec.signature_name, method)
                inputs = {"inputs": np.array(examples_of(request.input), dtype=object)}
            else:
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}"
                )
            checked = self.prepare(sig, inputs)
            for _ in range(iterations):
                self.run(sig, checked)
                count += 1
        return count


def _warmup_records(path: Path) -> list[prediction_log_pb2.PredictionLog]:
    """The warm-up file's PredictionLogs, all read before any is replayed: a torn or corrupt
    file fails the version with one line (DATA_LOSS), whatever record it breaks at."""
    logs = []
    try:
        for i, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
            if i >= MAX_WARMUP_RECORDS:
                raise invalid(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS})"
                )
            logs.append(prediction_log_pb2.PredictionLog.FromString(raw))
    except (tf.errors.OpError, DecodeError) as e:
        text = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
        raise ServingError(
            grpc.StatusCode.DATA_LOSS, f"the warm-up file {WARMUP_FILE} cannot be read: {text}"
        ) from e
    return logs


def _name_error(sig: Signature, inputs: dict[str, np.ndarray]) -> NoReturn:
    """The error for inputs whose names are not the signature's, worded as TF Serving's."""
    extra = sorted(set(inputs) - set(sig.inputs))
    missing = sorted(set(sig.inputs) - set(inputs))
    if len(inputs) != len(sig.inputs):
        raise invalid(
            f"input size does not match signature: {len(inputs)}!={len(sig.inputs)} "
            f"len({{{','.join(sorted(inputs))}}}) != len({{{','.join(sorted(sig.inputs))}}}). "
            f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}."
        )
    alias = missing[0]
    raise invalid(
        f"Signature input alias: {alias}(feed name: {sig.proto.inputs[alias].name}) not "
        "found in request and no default value provided. Inputs expected to be in the "
        f"request {{{','.join(sorted(inputs))}}}, or default input alias set: "
    )


def examples_of(request_input) -> list[bytes]:
    """Serialized tf.Examples from an Input proto; a context's features are merged into each."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in request_input.example_list.examples]
    if kind == "example_list_with_context":
        listed = request_input.example_list_with_context
        merged = []
        for example in listed.examples:
            full = example_pb2.Example()
            full.CopyFrom(listed.context)
            full.MergeFrom(example)
            merged.append(full.SerializeToString())
        return merged
    raise invalid("Input is empty")


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _first_line(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


__all__ = ["Servable", "ServingError", "Signature", "TensorSpec", "read_signatures"]
