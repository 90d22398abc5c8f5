"""TensorProto bytes (serving/tensor_proto.py) read back by TensorFlow's C++ and by tf.make_ndarray."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2

from serving.tensor_proto import as_proto_field, as_tensor_content, predict_response, to_ndarray

RNG = np.random.default_rng(0)
ARRAYS = {
    "float32": RNG.standard_normal((3, 10)).astype(np.float32),
    "float64": RNG.standard_normal((4,)),
    "float16": RNG.standard_normal((2, 3)).astype(np.float16),
    "bfloat16": RNG.standard_normal((5,)).astype(ml_dtypes.bfloat16),
    "int32": np.array([[0, 1, -1], [127, 128, -(2**31)], [2**31 - 1, 300, -300]], np.int32),
    "int64": np.array([0, 5, -5, 2**62, -(2**63), 2**63 - 1], np.int64),
    "int64-small": np.arange(10, dtype=np.int64).reshape(2, 5),  # one byte each
    "uint8": np.array([0, 1, 255], np.uint8),
    "int8": np.array([-128, 0, 127], np.int8),
    "int16": np.array([-32768, 7, 32767], np.int16),
    "uint16": np.array([0, 65535], np.uint16),
    "uint32": np.array([0, 2**32 - 1], np.uint32),
    "uint64": np.array([0, 2**64 - 1, 2**63], np.uint64),
    "bool": np.array([[True, False], [False, True]]),
    "complex64": (RNG.standard_normal(3) + 1j * RNG.standard_normal(3)).astype(np.complex64),
    "complex128": RNG.standard_normal(2) + 1j * RNG.standard_normal(2),
    "string": np.array([[b"a", b""], [b"\x00\xff" * 100, b"classes"]], dtype=object),
    "scalar": np.array(2.5, np.float32),
    "empty": np.zeros((0, 10), np.float32),
    "big-endian": np.arange(6, dtype=">f4").reshape(2, 3),
}


def parsed(data: bytes) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto.FromString(data)


def same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    if want.dtype == object:
        assert got.tolist() == want.tolist()
    else:
        assert got.dtype.name == want.dtype.name
        assert got.tobytes() == want.astype(got.dtype).tobytes()  # bit for bit, NaN or not


@pytest.mark.parametrize("name", ARRAYS)
def test_typed_fields_read_back_in_cpp_and_python(name):
    array = ARRAYS[name]
    data = as_proto_field(array)
    proto = parsed(data)
    assert not proto.tensor_content
    assert len(proto.ListFields()) == (3 if array.size else 2)  # dtype, shape, one value field
    same(tf.make_ndarray(proto), array)
    same(tf.io.parse_tensor(data, out_type=tf.as_dtype(proto.dtype)).numpy(), array)


@pytest.mark.parametrize("name", ARRAYS)
def test_tensor_content_reads_back_in_cpp(name):
    array = ARRAYS[name]
    data = as_tensor_content(array)
    proto = parsed(data)
    assert [f.name for f, _ in proto.ListFields()] == (
        ["dtype", "tensor_shape", "tensor_content"] if array.size else ["dtype", "tensor_shape"]
    )
    same(tf.io.parse_tensor(data, out_type=tf.as_dtype(proto.dtype)).numpy(), array)
    if array.dtype != object:  # Python's reader takes raw bytes; TF's string list only C++ reads
        same(tf.make_ndarray(proto), array)


def test_float_output_is_float_val_as_protobuf_writes_it():
    array = ARRAYS["float32"]
    proto = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum)
    proto.tensor_shape.dim.add(size=3)
    proto.tensor_shape.dim.add(size=10)
    proto.float_val.extend(array.ravel().tolist())
    assert as_proto_field(array) == proto.SerializeToString()
    assert parsed(as_proto_field(array)).float_val == pytest.approx(array.ravel().tolist())


@pytest.mark.parametrize("tensor_content", [False, True])
def test_the_predict_response_is_what_protobuf_reads_and_writes(tensor_content):
    spec = model_pb2.ModelSpec(name="digits", signature_name="serving_default")
    spec.version.value = 3
    outputs = {
        "probabilities": ARRAYS["float32"],
        "classes": ARRAYS["string"],
        "é": ARRAYS["empty"],
    }
    data = predict_response(spec.SerializeToString(), outputs, tensor_content)
    response = predict_pb2.PredictResponse.FromString(data)
    assert response.model_spec == spec
    write = as_tensor_content if tensor_content else as_proto_field
    assert {k: v.SerializeToString() for k, v in response.outputs.items()} == {
        k: write(v) for k, v in outputs.items()
    }


def _same_as_tensorflow(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """to_ndarray's array, after checking it is tf.make_ndarray's: values, dtype and shape."""
    ours, theirs = to_ndarray(proto), tf.make_ndarray(proto)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    return ours


@pytest.mark.parametrize("name", [n for n in ARRAYS if n not in ("string", "big-endian")])
def test_requests_read_as_tf_make_ndarray_reads_them(name):
    """Every dtype, from the typed field and from tensor_content, as a request brings it."""
    typed = tf.make_tensor_proto(ARRAYS[name])
    _same_as_tensorflow(parsed(as_proto_field(ARRAYS[name])))
    _same_as_tensorflow(typed)  # tensor_content, as make_tensor_proto writes numbers


def test_fewer_values_than_the_shape_are_padded_as_tensorflow_pads_them():
    proto = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum, float_val=[1.5, 2.5])
    proto.tensor_shape.dim.add(size=4)
    np.testing.assert_array_equal(_same_as_tensorflow(proto), [1.5, 2.5, 2.5, 2.5])


def test_a_wrong_byte_count_is_tensorflows_error():
    proto = tf.make_tensor_proto(np.zeros(3, np.float32))
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(ValueError):
        to_ndarray(proto)


def test_a_decoded_request_can_be_written_to():
    proto = tf.make_tensor_proto(np.zeros((2, 2), np.float32))
    array = to_ndarray(proto)
    array[0, 0] = 1.0  # a copy, as tf.make_ndarray's
    assert array.sum() == 1.0
