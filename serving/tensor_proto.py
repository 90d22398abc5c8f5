"""Output tensors as TensorProto bytes, written the two ways TF Serving writes Predict answers.

TF Serving's predict_util.cc fills each output with `Tensor::AsProtoField` (the typed value
fields: `float_val`, `int_val`, `string_val`, ...), or with `Tensor::AsProtoTensorContent` (raw
bytes in `tensor_content`) under `--enable_serialization_as_tensor_content`. Both are written
here as wire bytes, in field order as C++ writes them, and so is the PredictResponse around
them, which gRPC sends as it is. `float_val`, `double_val` and the complex fields are packed
fixed-width fields, whose wire bytes are the array's own little-endian bytes: no Python float
is made per value. The integer fields and `bool_val` are varints.

    data = predict_response(spec.SerializeToString(), {"probabilities": array})
    predict_pb2.PredictResponse.FromString(data).outputs["probabilities"].float_val
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

# TensorProto's value fields (tensor.proto) for each DataType, as Tensor::AsProtoField uses them:
# the small integer types and uint16 go in int_val, half and bfloat16 as their bits in half_val.
_FIELD_OF_DTYPE = {
    types_pb2.DT_FLOAT: 5,  # float_val, packed fixed32
    types_pb2.DT_DOUBLE: 6,  # double_val, packed fixed64
    types_pb2.DT_INT32: 7,  # int_val, packed varint
    types_pb2.DT_UINT8: 7,
    types_pb2.DT_INT16: 7,
    types_pb2.DT_INT8: 7,
    types_pb2.DT_UINT16: 7,
    types_pb2.DT_STRING: 8,  # string_val, one length-delimited field per value
    types_pb2.DT_COMPLEX64: 9,  # scomplex_val, packed fixed32 (real, imaginary)
    types_pb2.DT_INT64: 10,  # int64_val, packed varint
    types_pb2.DT_BOOL: 11,  # bool_val, packed varint: one byte, 0 or 1
    types_pb2.DT_COMPLEX128: 12,  # dcomplex_val, packed fixed64
    types_pb2.DT_HALF: 13,  # half_val, packed varint of the 16 bits
    types_pb2.DT_BFLOAT16: 13,
    types_pb2.DT_UINT32: 16,  # uint32_val, packed varint
    types_pb2.DT_UINT64: 17,  # uint64_val, packed varint
}
_FIXED = {5, 6, 9, 12}  # fields whose wire bytes are the values' little-endian bytes
_BITS16 = {types_pb2.DT_HALF, types_pb2.DT_BFLOAT16}
_TENSOR_CONTENT = 4
_VARINT_FIELDS = {
    7: "int_val",
    10: "int64_val",
    11: "bool_val",
    13: "half_val",
    16: "uint32_val",
    17: "uint64_val",
}

_dtype_enums: dict[np.dtype, int] = {}


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(field: int, wire_type: int = 2) -> bytes:
    return _varint(field << 3 | wire_type)


_TAGS = {f: _tag(f) for f in {*_FIELD_OF_DTYPE.values(), _TENSOR_CONTENT}}


def _dtype_enum(dtype: np.dtype) -> int:
    enum = _dtype_enums.get(dtype)
    if enum is None:
        enum = _dtype_enums[dtype] = tf.as_dtype(dtype).as_datatype_enum
    return enum


@functools.lru_cache(maxsize=4096)  # the sizes repeat from request to request
def _dim(size: int) -> bytes:
    """TensorShapeProto.dim (field 2) holding Dim{size: field 1}; a size of 0 is omitted."""
    body = b"\x08" + _varint(size) if size else b""
    return b"\x12" + _varint(len(body)) + body


def _header(enum: int, shape: tuple[int, ...]) -> bytes:
    """dtype (field 1) and tensor_shape (field 2), present even for a scalar, as C++ writes them."""
    dims = b"".join(map(_dim, shape))
    return b"\x08" + _varint(enum) + b"\x12" + _varint(len(dims)) + dims


def _varint_field(field: int, values: np.ndarray) -> list[bytes]:
    """A packed varint field. Values 0-127 (class ids, bools) are one byte each, their own
    bytes; others go through protobuf's C encoder, which sign-extends negative int32s to ten
    bytes as protobuf must (measured: as fast as numpy could do it, and far simpler)."""
    flat = values.ravel()
    if flat.dtype == np.bool_ or (flat.min() >= 0 and flat.max() < 0x80):
        payload = flat.astype(np.uint8).tobytes()
        return [_TAGS[field], _varint(len(payload)), payload]
    scratch = tensor_pb2.TensorProto()
    getattr(scratch, _VARINT_FIELDS[field]).extend(flat.tolist())
    return [scratch.SerializeToString()]  # that field alone: tag, length, varints


def _raw(array: np.ndarray) -> bytes:
    """The values' bytes in C order, little-endian as the wire and TensorFlow want them."""
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.tobytes()


def as_proto_field(array: np.ndarray) -> bytes:
    """TensorProto bytes as Tensor::AsProtoField writes them: the typed value field."""
    return b"".join(_proto_field(array))


def as_tensor_content(array: np.ndarray) -> bytes:
    """TensorProto bytes as Tensor::AsProtoTensorContent writes them: raw bytes in
    tensor_content; strings as TensorFlow encodes a string list (every length as a varint, then
    every string), which TensorFlow's C++ reads back but Python's tf.make_ndarray does not."""
    return b"".join(_tensor_content(array))


def predict_response(
    model_spec: bytes, outputs: dict[str, np.ndarray], tensor_content: bool = False
) -> bytes:
    """A serialized PredictResponse: `outputs` (field 1, one map entry {key: 1, value: 2} per
    output) and the serialized `model_spec` (field 2). The values are copied once, into the
    joined bytes: a message would parse them in and serialize them out again, which for packed
    floats costs protobuf (upb) about 18 ms per million values."""
    write = _tensor_content if tensor_content else _proto_field
    parts = []
    for key, array in outputs.items():
        name = key.encode()
        tensor = write(array)
        size = sum(map(len, tensor))
        entry = [b"\x0a", _varint(len(name)), name, b"\x12", _varint(size)]
        entry_size = sum(map(len, entry)) + size
        parts += [b"\x0a", _varint(entry_size), *entry, *tensor]
    parts += [b"\x12", _varint(len(model_spec)), model_spec]
    return b"".join(parts)


def _proto_field(array: np.ndarray) -> list[bytes]:
    enum = _dtype_enum(array.dtype)
    field = _FIELD_OF_DTYPE.get(enum)
    if field is None:
        raise TypeError(f"no TensorProto value field for {tf.as_dtype(array.dtype).name}")
    head = _header(enum, array.shape)
    if field == 8:
        tag = _TAGS[8]
        return [head, *(tag + _varint(len(v)) + v for v in _strings(array))]
    if not array.size:
        return [head]
    if field in _FIXED:
        payload = _raw(array)
        return [head, _TAGS[field], _varint(len(payload)), payload]
    return [head, *_varint_field(field, array.view(np.uint16) if enum in _BITS16 else array)]


def _tensor_content(array: np.ndarray) -> list[bytes]:
    enum = _dtype_enum(array.dtype)
    head = _header(enum, array.shape)
    if enum == types_pb2.DT_STRING:
        strings = _strings(array)
        content = b"".join(_varint(len(v)) for v in strings) + b"".join(strings)
    else:
        content = _raw(array)
    if not content:
        return [head]
    return [head, _TAGS[_TENSOR_CONTENT], _varint(len(content)), content]


def _strings(array: np.ndarray) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in array.ravel().tolist()]


# Requests' common dtypes, read without tf.make_ndarray's per-call dtype and shape work (it was
# ~13% of the event loop's time under gRPC load, measured with py-spy); the rest go through it.
_FAST_FIELDS = {
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
}


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The TensorProto as an array, exactly as tf.make_ndarray reads it."""
    fast = _FAST_FIELDS.get(proto.dtype)
    shape = [d.size for d in proto.tensor_shape.dim]
    if fast is None or any(s < 0 for s in shape):
        return tf.make_ndarray(proto)
    dtype, field = fast
    count = 1
    for s in shape:
        count *= s
    if proto.tensor_content:
        if len(proto.tensor_content) != count * dtype.itemsize:
            return tf.make_ndarray(proto)  # its own error for a wrong byte count
        return np.frombuffer(proto.tensor_content, dtype).reshape(shape).copy()
    values = getattr(proto, field)
    if len(values) != count:
        return tf.make_ndarray(proto)  # fewer values: it pads with the last one
    return np.array(values, dtype).reshape(shape)
