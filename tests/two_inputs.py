"""A small model with two named inputs (floats and strings) and two outputs, shared by the
serving client's and the edge runtime's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REGIONS = ["low", "mid", "high"]


def two_input_model():
    """Untrained, seeded: `numeric` float32 [N, 3] and `region` string [N, 1] in; `cultivar`
    (3 classes, softmax) and `alcohol` (one value) out."""
    import keras

    init = keras.initializers.RandomNormal(stddev=0.8, seed=3)
    numeric = keras.Input(shape=(3,), name="numeric", dtype="float32")
    region = keras.Input(shape=(1,), name="region", dtype="string")
    onehot = keras.layers.StringLookup(vocabulary=REGIONS, output_mode="one_hot")(region)
    hidden = keras.layers.Dense(8, activation="relu", kernel_initializer=init)(
        keras.layers.Concatenate()([numeric, onehot])
    )
    cultivar = keras.layers.Dense(3, "softmax", kernel_initializer=init, name="cultivar")(hidden)
    alcohol = keras.layers.Dense(1, kernel_initializer=init, name="alcohol")(hidden)
    return keras.Model(
        {"numeric": numeric, "region": region}, {"cultivar": cultivar, "alcohol": alcohol}
    )


def export_two_input_model(out: Path) -> Path:
    """The model as a SavedModel whose serving_default keeps the input and output names.

    ExportArchive, not tf.saved_model.save on a module holding the model: TFLite's converter
    turns the latter (lookup table and all) into a file that runs on uninitialised weights.
    """
    import keras
    import tensorflow as tf

    model = two_input_model()
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda numeric, region: model({"numeric": numeric, "region": region}),
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="numeric"),
            tf.TensorSpec([None, 1], tf.string, name="region"),
        ],
    )
    archive.write_out(str(out), verbose=False)
    return out


def samples() -> dict[str, np.ndarray]:
    """Every region, one the vocabulary lacks, and numbers that move the outputs."""
    numeric = np.array([[1, 2, 3], [0, 0, 0], [-1, 0.5, 2], [3, -2, 1]], np.float32)
    region = np.array([["low"], ["mid"], ["high"], ["elsewhere"]])  # numpy unicode, as saved
    return {"numeric": numeric, "region": region}
