import json

import numpy as np
import tensorflow as tf

from pipeline.data import load_digits, preprocess_image_bytes, read_golden


def test_split_is_deterministic_for_a_seed():
    a, b = load_digits(7, 0.15, 0.15), load_digits(7, 0.15, 0.15)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, split).x, getattr(b, split).x)
        np.testing.assert_array_equal(getattr(a, split).y, getattr(b, split).y)
    other = load_digits(8, 0.15, 0.15)
    assert not np.array_equal(a.test.y, other.test.y)


def test_split_is_stratified_disjoint_and_normalized():
    data = load_digits(42, 0.15, 0.15)
    sizes = [len(s.y) for s in (data.train, data.val, data.test)]
    assert sum(sizes) == 1797
    assert abs(sizes[2] / 1797 - 0.15) < 0.01
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1:] == (8, 8, 1) and split.x.dtype == np.float32
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
        share = np.bincount(split.y, minlength=10) / len(split.y)
        assert np.all(np.abs(share - 0.1) < 0.02)  # each class ~10% in every split
    rows = {r.tobytes() for r in data.test.x}
    assert not any(r.tobytes() in rows for r in data.train.x[:500])


def test_image_preprocessing_inverts_and_block_averages_like_the_digits_data():
    cells = np.linspace(0, 1, 64).reshape(8, 8)
    big = np.kron(cells, np.ones((4, 4)))  # 32x32, as the digits bitmaps
    png = tf.io.encode_png(np.round((1 - big) * 255).astype(np.uint8)[..., None]).numpy()
    out = preprocess_image_bytes(tf.constant(png)).numpy()[..., 0]
    np.testing.assert_allclose(out, cells, atol=1 / 255 + 1e-6)


def test_golden_set_is_written_as_npz_and_matching_json(built):
    _, _, layout = built
    golden = read_golden(layout.golden_dir).single()
    doc = json.loads((layout.golden_dir / "golden.json").read_text())
    assert doc["shape"] == list(golden.x.shape) and doc["input_name"] == "image"
    np.testing.assert_allclose(np.array(doc["x"]).reshape(golden.x.shape), golden.x, atol=1e-7)
    np.testing.assert_allclose(np.array(doc["reference"]), golden.reference, atol=1e-7)
    assert doc["labels"] == golden.labels.tolist()
    np.testing.assert_allclose(golden.reference.sum(axis=1), 1.0, atol=1e-5)
