"""Images without TensorFlow: Pillow + numpy give what pipeline/data.py's TensorFlow function gives."""

import io

import numpy as np
import pytest
from PIL import Image

from mobile.errors import BadInput
from mobile.inputs import area_resize, load_input, load_inputs, preprocess_image
from mobile.runtime import TensorSpec


def _encode(pixels: np.ndarray, mode: str, fmt: str) -> bytes:
    image = Image.fromarray(pixels) if mode != "P" else Image.fromarray(pixels).convert("P")
    if mode not in ("P", "I;16") and image.mode != mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _pixels(mode: str, shape, rng) -> np.ndarray:
    h, w = shape
    strokes = (rng.random((h, w)) > 0.6).astype(np.float64)  # ink on paper, or the reverse
    if mode == "I;16":
        return (rng.random((h, w)) * 65535).astype(np.uint16)
    if mode in ("RGB", "RGBA"):
        channels = [strokes, rng.random((h, w)), strokes * 0.5, rng.random((h, w))]
        return (np.stack(channels[: len(mode)], -1) * 255).astype(np.uint8)
    if mode == "LA":
        return (np.stack([strokes, rng.random((h, w))], -1) * 255).astype(np.uint8)
    return (strokes * 200 + 30).astype(np.uint8)


SIZES = [(32, 32), (37, 23), (8, 8), (5, 3), (120, 64)]


@pytest.mark.parametrize(
    ("fmt", "mode", "tolerance"),
    [
        ("PNG", "L", 1e-6),
        ("PNG", "RGB", 1e-6),
        ("PNG", "RGBA", 1e-6),
        ("PNG", "LA", 1e-6),
        ("PNG", "P", 1e-6),
        ("PNG", "I;16", 1e-6),
        # TF decodes JPEG with libjpeg's fast integer DCT, Pillow with the accurate one
        ("JPEG", "L", 0.02),
        ("JPEG", "RGB", 0.02),
    ],
)
def test_pillow_preprocessing_equals_the_tensorflow_function(fmt, mode, tolerance):
    import tensorflow as tf

    from pipeline.data import preprocess_image_bytes

    rng = np.random.default_rng(0)
    for shape in SIZES:
        data = _encode(_pixels(mode, shape, rng), mode, fmt)
        expected = preprocess_image_bytes(tf.constant(data)).numpy()
        got = preprocess_image(data)
        assert got.shape == (8, 8, 1) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=tolerance, err_msg=f"{fmt} {mode} {shape}")


def test_area_resize_of_32_to_8_is_the_4x4_block_mean():
    x = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    blocks = x.reshape(8, 4, 8, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(area_resize(x, (8, 8)), blocks, atol=1e-6)


def test_a_drawn_digit_comes_back_as_its_golden_sample(digits_png):
    path, _, x = digits_png
    got = load_input(path, (-1, 8, 8, 1))
    assert got.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(got[0], x, atol=1 / 255)  # the PNG holds 8-bit pixels


def test_npy_inputs_take_one_sample_or_a_batch_and_refuse_other_shapes(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((8, 8, 1)))
    np.save(tmp_path / "batch.npy", np.zeros((5, 8, 8, 1)))
    np.save(tmp_path / "wrong.npy", np.zeros((5, 8, 8)))
    assert load_input(tmp_path / "one.npy", (-1, 8, 8, 1)).shape == (1, 8, 8, 1)
    assert load_input(tmp_path / "batch.npy", (-1, 8, 8, 1)).dtype == np.float32
    with pytest.raises(BadInput, match=r"shape \[5, 8, 8\] does not fit"):
        load_input(tmp_path / "wrong.npy", (-1, 8, 8, 1))
    (tmp_path / "x.png").write_bytes(b"x")
    with pytest.raises(BadInput, match="images need"):
        load_input(tmp_path / "x.png", (-1, 12))


def _spec(name, dtype, shape, scale=0.0, zero_point=0):
    return TensorSpec(name, np.dtype(dtype), shape, scale, zero_point)


def test_an_npz_feeds_every_input_by_name_in_the_dtype_its_tensor_takes(tmp_path):
    inputs = {
        "numeric": _spec("numeric", np.float32, (-1, 3)),
        "count": _spec("count", np.int32, (-1, 2)),
        "region": _spec("region", np.bytes_, (-1, 1)),
        "scaled": _spec("scaled", np.int8, (-1, 2), scale=0.5, zero_point=-1),
    }
    np.savez(
        tmp_path / "in.npz",
        numeric=np.ones((2, 3)),  # float64
        count=np.array([[1.0, 2.0], [3.0, 4.0]]),  # whole numbers stored as floats
        region=np.array([["café"], ["mid"]]),  # numpy unicode
        scaled=np.array([[1, 2], [3, 4]]),  # real values of a quantized input
        y=np.array([0, 1]),  # labels, as the pipeline's samples files carry them: left out
    )
    feed = load_inputs(tmp_path / "in.npz", inputs)
    assert sorted(feed) == sorted(inputs)
    assert feed["numeric"].dtype == np.float32 and feed["count"].dtype == np.int32
    assert feed["region"].tolist() == [["café".encode()], [b"mid"]]  # UTF-8 bytes for TFLite
    assert feed["scaled"].dtype == np.float32  # the runtime quantizes it with scale, zero point

    np.savez(tmp_path / "one.npz", x=np.zeros(3))  # one sample, under the one-input name `x`
    one = load_inputs(tmp_path / "one.npz", {"numeric": inputs["numeric"]})
    assert one["numeric"].shape == (1, 3)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"numeric": np.zeros((2, 3))}, r"no array 'count'; the model takes numeric, count"),
        ({"numeric": np.zeros((2, 3)), "count": np.full((2, 2), 1.5)}, "holds fractions"),
        ({"numeric": np.zeros((2, 3)), "count": np.full((2, 2), 2**40)}, "out of int32's range"),
        ({"numeric": np.array([["a", "b", "c"]]), "count": np.zeros((1, 2))}, "holds strings"),
        ({"numeric": np.zeros((2, 3)), "count": np.zeros((3, 2))}, "number of samples"),
        ({"numeric": np.zeros((2, 3)), "count": np.zeros((2, 2)), "cont": 1}, "match no input"),
    ],
)
def test_an_npz_that_does_not_fit_the_inputs_is_refused_in_one_line(tmp_path, arrays, message):
    inputs = {
        "numeric": _spec("numeric", np.float32, (-1, 3)),
        "count": _spec("count", np.int32, (-1, 2)),
    }
    np.savez(tmp_path / "in.npz", **arrays)
    with pytest.raises(BadInput, match=message):
        load_inputs(tmp_path / "in.npz", inputs)
    with pytest.raises(BadInput, match=r"2 inputs \(numeric, count\): give an .npz"):
        load_inputs(tmp_path / "x.npy", inputs)
