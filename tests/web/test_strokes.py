"""Drawn strokes become the digits representation, identically here and in the web page."""

import json

import numpy as np
import tensorflow as tf

from pipeline.config import ROOT
from pipeline.data import preprocess_image_bytes
from web import strokes

VECTORS = ROOT / "web" / "test" / "vectors.json"


def test_shared_vectors_are_what_the_python_preprocessing_gives(tmp_path):
    """web/test/vectors.json (which the JavaScript tests check the page against) is current."""
    fresh = strokes.write_vectors(tmp_path / "vectors.json")
    assert json.loads(VECTORS.read_text()) == json.loads(json.dumps(fresh))


def test_strokes_give_the_bitmap_the_images_path_gives():
    """The 8x8 input from strokes equals pipeline/data.py's area resize of the same 32x32 bitmap."""
    for case in strokes.vector_cases():
        bitmap = strokes.strokes_to_bitmap(case["strokes"])
        png = tf.io.encode_png(tf.constant(bitmap[..., None] * 255, tf.uint8))
        from_image = preprocess_image_bytes(png).numpy()
        if bitmap.mean() <= 0.5:  # the image path inverts mostly-ink pictures; strokes never are
            np.testing.assert_allclose(
                strokes.strokes_to_input(case["strokes"]), from_image, atol=1e-6
            )


def test_a_vertical_bar_is_centred_and_fills_the_height():
    counts = strokes.bitmap_to_counts(strokes.strokes_to_bitmap([[[0.9, 0.1], [0.9, 0.3]]]))
    assert counts[:, :3].sum() == 0 and counts[:, 5:].sum() == 0  # centred, wherever drawn
    assert (counts[:, 3:5].sum(axis=1) > 0).all()  # top to bottom
    assert counts.max() <= 16


def test_inputs_are_float32_8x8x1_in_unit_range():
    x = strokes.strokes_to_input([[[0.2, 0.2], [0.8, 0.8]]])
    assert x.shape == (8, 8, 1) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert not strokes.strokes_to_input([]).any()
