"""Shared by the example training scripts: CLI, seeding, and writing model.keras + samples.npz."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def parse_args(doc: str) -> argparse.Namespace:
    """`--out DIR [--seed 0]`, described by the first line of the script's docstring."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="where model.keras and samples.npz go"
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds Keras, TensorFlow and the data")
    return parser.parse_args()


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and TensorFlow for Keras, and return the generator the data comes from."""
    import keras

    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def fit(model, x, y, *, epochs: int, batch_size: int) -> None:
    """model.fit, quietly, with the optimizer's slot variables made first.

    Tracing the train step costs these tiny models more than training does, and a tf.function that
    creates variables while tracing is traced twice. So build the optimizer first, and compile
    without `metrics=` (their variables are also made lazily); the scripts measure held-out data.
    """
    model.optimizer.build(model.trainable_variables)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


def save(out: Path, model, samples: dict[str, np.ndarray]) -> None:
    """Write DIR/model.keras and DIR/samples.npz: one array per model input (by name) + labels."""
    missing = {tensor.name for tensor in model.inputs} - samples.keys()
    if missing:
        raise KeyError(f"samples lack the model inputs {sorted(missing)}")
    for key, array in samples.items():
        if array.dtype == object:  # np.load would need allow_pickle; strings go as unicode (<U..)
            raise TypeError(f"samples[{key!r}] is an object array")
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    np.savez(out / "samples.npz", **samples)


def train_classifier(
    out: Path,
    kind: str,
    model,
    input_name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    learning_rate: float,
    epochs: int,
    noun: str,
) -> None:
    """The one-input classifiers' tail: compile, fit, held-out accuracy, the two files, a line."""
    import keras

    (x_train, y_train), (x_test, y_test) = train, test
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy"
    )
    fit(model, _tensor(x_train), y_train, epochs=epochs, batch_size=64)
    predicted = model.predict(_tensor(x_test), batch_size=256, verbose=0).argmax(axis=-1)
    accuracy = float(np.mean(predicted == y_test))
    save(out, model, {input_name: x_test, "y": y_test})
    print(
        f"{kind}: held-out accuracy {accuracy:.3f} on {len(y_test)} {noun}"
        f" ({model.count_params()} params)"
    )


def _tensor(values: np.ndarray):
    """Keras's NumPy adapter rejects unicode arrays ("Invalid dtype: str..."): strings go as
    tf.string tensors, numbers as they are."""
    if values.dtype.kind != "U":
        return values
    import tensorflow as tf

    return tf.constant(values)
