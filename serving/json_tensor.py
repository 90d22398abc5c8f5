"""TF Serving's REST JSON tensor encoding: row ("instances") and columnar ("inputs") formats.

Spec: tensorflow/serving g3doc/api_rest.md and util/json_tensor.cc. A request uses exactly one
format and the response answers in the same one ("predictions" or "outputs"). Binary values
travel as {"b64": "..."}; string outputs whose alias ends in "_bytes" go back that way too.
Error texts follow TF Serving's, so clients that match on them keep working.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import numpy as np
from tensorflow.core.example import example_pb2

from serving.errors import ServingError, invalid
from serving.servable import Signature, TensorSpec

try:
    from serving import _jsonfloat
except ImportError as e:  # a C extension: compiled by `make setup` (serving/build_ext.sh)
    raise ImportError("serving/_jsonfloat.c is not built: run `make setup`") from e

Tensors = dict[str, np.ndarray]
_DEBUG_LIMIT = 256  # TF Serving truncates the JSON it quotes in error messages
_decoder = json.JSONDecoder()
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def debug(value) -> str:
    """A value as JSON text for an error message, cut at 256 characters as TF Serving cuts it.
    Written piece by piece and only as far as the cut, so a huge or deeply nested value costs
    no more than that (json.dumps would write all of it, and recurse)."""
    if not isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        pieces, size = [], 0
        for piece in _json_pieces(value):
            pieces.append(piece)
            size += len(piece)
            if size > _DEBUG_LIMIT:
                break
        text = "".join(pieces)
    return text if len(text) <= _DEBUG_LIMIT else text[:_DEBUG_LIMIT] + "..."


_END = object()


def _json_pieces(value):
    """json.dumps's text of a value, in pieces, with a stack of open lists and objects instead
    of recursion."""
    levels = [(iter((value,)), False, "")]  # (items, items are key-value pairs, closing text)
    first = [True]
    while levels:
        items, pairs, closer = levels[-1]
        item = next(items, _END)
        if item is _END:
            levels.pop()
            first.pop()
            yield closer
            continue
        if first[-1]:
            first[-1] = False
        else:
            yield ", "
        if pairs:
            key, item = item
            yield json.dumps(key) + ": "
        if isinstance(item, list) and item:
            yield "["
            levels.append((iter(item), False, "]"))
            first.append(True)
        elif isinstance(item, dict) and item:
            yield "{"
            levels.append((iter(item.items()), True, "}"))
            first.append(True)
        else:
            yield json.dumps(item)


def loads(raw: bytes):
    """Parse a request body as TF Serving does: NaN/Infinity allowed, trailing bytes ignored."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        raise invalid(f"JSON Parse error: Invalid encoding in string. at offset: {e.start}") from e
    stripped = text.lstrip()
    if not stripped:
        raise invalid("JSON Parse error: The document is empty")
    try:
        value, _ = _decoder.raw_decode(stripped)
    except json.JSONDecodeError as e:
        offset = e.pos + len(text) - len(stripped)
        raise invalid(f"JSON Parse error: {e.msg} at offset: {offset}") from e
    except RecursionError:
        # Python's parser recurses and gives up near 1,000 levels (RapidJSON, which TF Serving
        # runs iteratively, has no limit); a tensor has at most 254 dimensions in TensorFlow.
        raise invalid(
            f"JSON Parse error: Too deeply nested at offset: {_too_deep_at(text)}"
        ) from None
    return value


_MAX_NESTING = 256  # where a body's nesting is reported as too deep (TensorFlow: 254 dimensions)
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # strings (skipped) and brackets


def _too_deep_at(text: str) -> int:
    """The offset of the first bracket that opens a level deeper than _MAX_NESTING."""
    depth = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in ("[", "{"):
            depth += 1
            if depth > _MAX_NESTING:
                return token.start()
        elif char in ("]", "}"):
            depth -= 1
    return len(text)


# -- predict requests --------------------------------------------------------------------------


def parse_predict(body: dict, sig: Signature) -> tuple[Tensors, str]:
    """Inputs from a predict request body, and the format ("row" or "columnar") it used."""
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows and has_cols:
        raise invalid(
            f"JSON Value: {debug(body)} Not formatted correctly expecting only one of 'inputs' "
            "or 'instances' keys to exist "
        )
    if not has_rows and not has_cols:
        raise invalid("Missing 'inputs' or 'instances' key")
    if has_rows:
        return _rows(body["instances"], sig), "row"
    return _columns(body["inputs"], sig), "columnar"


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _is_object(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _rows(instances, sig: Signature) -> Tensors:
    if not isinstance(instances, list):
        raise invalid(f"JSON Value: {debug(instances)} Expecting 'instances' to be an list/array")
    if not instances:
        raise invalid(f"JSON Value: {debug(instances)} No values in 'instances' array")
    if _is_object(instances[0]):
        return _object_rows(instances, sig)
    if len(sig.inputs) != 1:
        raise invalid(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            "required as per tensorinfo_map"
        )
    (spec,) = sig.inputs.values()
    fast = _packed(instances, spec)
    if fast is not None:
        return {spec.key: fast}
    for i, item in enumerate(instances):
        if _is_object(item):
            raise invalid(f"Expecting value/list but got object at item {i} of input list")
    return {spec.key: _stack(instances, spec, lambda i: f"{i} of 'instances' list")}


def _packed(value, spec: TensorSpec) -> np.ndarray | None:
    """A full rectangular array of JSON ints and floats for a float spec, read in C; None sends
    the value the careful way, which also words the errors as TF Serving does."""
    if spec.dtype.kind != "f":
        return None
    double = spec.dtype.itemsize == 8
    packed = _jsonfloat.pack(value, double)
    if packed is None:
        return None
    buffer, shape = packed
    array = np.frombuffer(buffer, _F64 if double else _F32).reshape(shape)
    return array if array.dtype == spec.dtype else array.astype(spec.dtype)


def _object_rows(instances: list, sig: Signature) -> Tensors:
    names = sorted(sig.inputs)
    for i, item in enumerate(instances):
        if not _is_object(item):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        for key in item:
            if key not in sig.inputs:
                raise invalid(
                    f"Failed to process element: {i} key: {key} of 'instances' list. Error: "
                    f"INVALID_ARGUMENT: JSON object: does not have named input: {key}"
                )
        if sorted(item) != names:
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. JSON object: {debug(item)} "
                f"keys must be equal to: {','.join(names)}"
            )
    return {
        key: _stack(
            [item[key] for item in instances],
            sig.inputs[key],
            lambda i, key=key: f"{i} key: {key} of 'instances' list",
        )
        for key in names
    }


def _stack(items: list, spec: TensorSpec, where) -> np.ndarray:
    """One tensor from per-instance values; every item must have the first item's shape."""
    arrays = []
    for i, item in enumerate(items):
        try:
            arrays.append(to_array(item, spec))
        except ServingError as e:
            raise invalid(
                f"Failed to process element: {where(i)}. Error: INVALID_ARGUMENT: {e.message}"
            ) from e
        first = arrays[0]
        if arrays[-1].shape != first.shape:
            inner = (
                f"Expecting tensor size: {first.size} but got: {arrays[-1].size}"
                if arrays[-1].size != first.size
                else f"Expecting shape {_dims(first.shape)} but got: {_dims(arrays[-1].shape)}"
            )
            raise invalid(
                f"Failed to process element: {where(i)}. Error: INVALID_ARGUMENT: {inner}"
            )
    return np.stack(arrays) if spec.dtype != object else _object_stack(arrays)


def _object_stack(arrays: list[np.ndarray]) -> np.ndarray:
    out = np.empty((len(arrays), *arrays[0].shape), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a if a.ndim else a[()]
    return out


def _dims(shape) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _columns(inputs, sig: Signature) -> Tensors:
    if _is_object(inputs):
        for key in sorted(sig.inputs):
            if key not in inputs:
                raise invalid(f"Missing named input: {key} in 'inputs' object.")
        return {key: to_array(inputs[key], spec) for key, spec in sig.inputs.items()}
    if len(sig.inputs) != 1:
        raise invalid(
            "inputs is a plain value/list, but expecting an object as multiple input tensors "
            "required as per tensorinfo_map"
        )
    (spec,) = sig.inputs.values()
    return {spec.key: to_array(inputs, spec)}


_INT_KINDS = "iu"
_MAX_RANK = 32  # dimensions per value: numpy's limit is 64, and a batch adds one


def _json_type(v) -> str:
    if v is None:
        return "Null"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (int, float)):
        return "Number"
    return {str: "String", dict: "Object", list: "Array"}.get(type(v), "Object")


def _type_error(value, spec: TensorSpec) -> ServingError:
    return invalid(
        f"JSON Value: {debug(value)} Type: {_json_type(value)} is not of expected type: "
        f"{spec.dtype_name}"
    )


def _leaf_ok(v, spec: TensorSpec) -> bool:
    kind = spec.dtype.kind
    if kind == "f":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind in _INT_KINDS:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "b":
        return isinstance(v, bool)
    return False


def to_array(value, spec: TensorSpec) -> np.ndarray:
    """A JSON value (nested lists) as an array of the signature's dtype, or INVALID_ARGUMENT."""
    shape = _shape_of(value)
    if len(shape) > _MAX_RANK:
        raise invalid(
            f"JSON value for input '{spec.key}' is nested {len(shape)} lists deep: more than "
            f"the {_MAX_RANK} dimensions this server takes in a tensor"
        )
    if spec.dtype == object:
        flat = [_string_leaf(v) for v in _leaves(value, len(shape))]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(shape)
    fast = _packed(value, spec)  # floats in C; the leaf check below words anything else
    if fast is not None:
        return fast
    if spec.dtype.kind != "f":
        try:  # ints and bools: numpy parses well-formed lists in C
            array = np.asarray(value)
        except ValueError:
            array = None
        if array is not None and array.shape == shape:
            kind = array.dtype.kind
            if (kind in "iu" and spec.dtype.kind in "iu") or (kind == "b" == spec.dtype.kind):
                return array.astype(spec.dtype, copy=False)
    leaves = _leaves(value, len(shape))
    for v in leaves:
        if not _leaf_ok(v, spec):
            raise _type_error(v, spec)
    try:
        return np.asarray(leaves, dtype=spec.dtype).reshape(shape)
    except OverflowError as e:  # a JSON integer no double holds
        raise invalid("JSON Parse error: Number too big to be stored in double") from e


def _shape_of(value) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _leaves(value, rank: int, level: int = 0) -> list:
    """Flatten, checking that every list sits at the depth and length the first item set."""
    if level == rank:
        if isinstance(value, list):
            raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
        return [value]
    if not isinstance(value, list):
        raise invalid(
            f"JSON Value: {debug(value)} found at incorrect level: {level + 1} in the JSON DOM. "
            f"Expected at level: {rank}"
        )
    out = []
    for item in value:
        out.extend(_leaves(item, rank, level + 1))
    return out


def _string_leaf(v) -> bytes:
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, dict):
        if not _is_b64(v) or not isinstance(v["b64"], str):
            raise invalid(f"JSON Value: {debug(v)} not formatted correctly for base64 data")
        text = v["b64"]
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as e:
            raise invalid("Unable to base64 decode") from e
    raise invalid(f"JSON Value: {debug(v)} Type: {_json_type(v)} is not of expected type: string")


# -- responses ---------------------------------------------------------------------------------


def format_float(values: np.ndarray) -> np.ndarray:
    """Strings for floats as TF Serving writes them: %g, or %.9g (%.17g) if %g does not round-trip."""
    flat = values.ravel()
    digits = 17 if values.dtype == np.float64 else 9
    py = flat.astype(np.float64).tolist()
    short = [f"{v:g}" for v in py]
    back = np.array(short, dtype=np.float64).astype(values.dtype).tolist()
    text = [
        s if b == v or v != v else f"{v:.{digits}g}"
        for s, b, v in zip(short, back, py, strict=True)
    ]
    out = []
    for s in text:
        if s in ("nan", "-nan"):
            s = "NaN"
        elif s in ("inf", "-inf"):
            s = "Infinity" if s == "inf" else "-Infinity"
        elif "." not in s and "e" not in s:
            s += ".0"
        out.append(s)
    return np.array(out, dtype=object).reshape(values.shape)


def _float_rows(array: np.ndarray) -> str:
    """A [N, K] float32 output as JSON rows (the common answer), written in C exactly as
    format_float writes each value."""
    return _jsonfloat.rows(np.ascontiguousarray(array))


def _leaf_texts(array: np.ndarray, key: str) -> np.ndarray:
    """Every element of an output tensor as JSON text, same shape."""
    if array.dtype.kind == "f":
        return format_float(array)
    if array.dtype.kind == "b":
        return np.where(array, "true", "false").astype(object)
    if array.dtype.kind in "iu":
        return array.astype(str).astype(object)
    if array.dtype == object or array.dtype.kind == "S":
        b64 = key.endswith("_bytes")

        def text(v) -> str:
            raw = v if isinstance(v, bytes) else str(v).encode()
            if b64:
                return '{"b64": "' + base64.b64encode(raw).decode() + '"}'
            return json.dumps(raw.decode(errors="replace"))

        flat = [text(v) for v in array.ravel()]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape)
    raise ServingError(
        invalid("").code, f"Failed to write JSON value for tensor type: {array.dtype.name}"
    )


def _nest(texts: np.ndarray) -> str:
    if texts.ndim == 0:
        return texts[()]
    if texts.ndim == 1:
        return "[" + ", ".join(texts.tolist()) + "]"
    return "[" + ", ".join(_nest(t) for t in texts) + "]"


def format_predict(outputs: Tensors, fmt: str) -> str:
    """The response body: {"predictions": ...} for row requests, {"outputs": ...} for columnar."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    if fmt == "row" and len(outputs) == 1:
        (value,) = outputs.values()
        if value.dtype == np.float32 and value.ndim == 2:
            return '{"predictions": [' + _float_rows(value) + "]}"
    texts = {k: _leaf_texts(v, k) for k, v in outputs.items()}
    if fmt == "columnar":
        if len(texts) == 1:
            return '{"outputs": ' + _nest(next(iter(texts.values()))) + "}"
        inner = ", ".join(f"{json.dumps(k)}: {_nest(t)}" for k, t in texts.items())
        return '{"outputs": {' + inner + "}}"
    batch = None
    for key, t in texts.items():
        if t.ndim == 0:
            raise invalid(f"Tensor name: {key} has no shape information ")
        if batch is not None and t.shape[0] != batch:
            raise invalid(
                f"Tensor name: {key} has inconsistent batch size: {t.shape[0]} expecting: {batch}"
            )
        batch = t.shape[0]
    if len(texts) == 1:
        rows = [_nest(row) for row in next(iter(texts.values()))]
    else:
        rows = [
            "{" + ", ".join(f"{json.dumps(k)}: {_nest(t[i])}" for k, t in texts.items()) + "}"
            for i in range(batch)
        ]
    return '{"predictions": [' + ", ".join(rows) + "]}"


# -- classify and regress ----------------------------------------------------------------------


def parse_examples(body: dict, method: str) -> list[bytes]:
    """Serialized tf.Examples from {"examples": [...], "context": {...}} (context merged in)."""
    if "examples" not in body:
        raise invalid(
            f"JSON Value: {debug(body)} When method is {method}, key 'examples' is expected and "
            "was not found"
        )
    examples = body["examples"]
    if not isinstance(examples, list):
        raise invalid(
            f"JSON Value: {debug(examples)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise invalid(f"JSON Value: {debug(examples)} 'examples' value is an empty array")
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise invalid(f"Example must be JSON object but got JSON {_json_type(context)}")
    out = []
    for example in examples:
        if not isinstance(example, dict):
            raise invalid(f"Example must be JSON object but got JSON {_json_type(example)}")
        proto = example_pb2.Example()
        for name, value in {**(context or {}), **example}.items():
            _feature(proto.features.feature[name], value, name)
        out.append(proto.SerializeToString())
    return out


def _feature(feature, value, name: str) -> None:
    kind = None
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, str) or _is_b64(v):
            this, raw = "bytes", base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode()
        elif isinstance(v, bool) or (isinstance(v, int) and not isinstance(v, bool)):
            if int(v) >= 2**63:
                raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
            this, raw = "int64", int(v)
        elif isinstance(v, float):
            this, raw = "float", v
        else:
            raise invalid(f"Feature: {name} has element with unexpected JSON type: {_json_type(v)}")
        if kind is not None and this != kind:
            raise invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")
        kind = this
        getattr(feature, f"{this}_list").value.append(raw)


def format_classify(outputs: Tensors) -> str:
    """{"results": [[[label, score], ...] per example]}; label "" when there is no classes output."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    shape = (classes if classes is not None else scores).shape
    score_texts = format_float(scores.astype(np.float32)) if scores is not None else None
    results = []
    for i in range(shape[0]):
        pairs = []
        for j in range(shape[1]):
            label = classes[i, j].decode() if classes is not None else ""
            score = score_texts[i, j] if score_texts is not None else "0.0"
            pairs.append(f"[{json.dumps(label)}, {score}]")
        results.append("[" + ", ".join(pairs) + "]")
    if not results:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    return '{"results": [' + ", ".join(results) + "]}"


def format_regress(values: np.ndarray) -> str:
    """{"results": [v, ...]}: one value per example (outputs of shape [N] or [N, 1])."""
    if values.size == 0:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    values = values.reshape(len(values), -1)[:, 0]
    return '{"results": [' + ", ".join(format_float(values.astype(np.float32)).tolist()) + "]}"
