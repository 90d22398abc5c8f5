"""Data: scikit-learn's bundled digits, a seeded stratified split, the golden set, image input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobile.errors import BadInput
from mobile.inputs import load_npy
from pipeline.errors import UserError

CALIBRATION_FILE = "calibration.npy"  # beside the golden set: int8 calibration inputs
DIGITS_CLASSES = [str(i) for i in range(10)]
# sklearn's digits are 4x4 block counts of a 32x32 bitmap: 0..16 "on" pixels per cell.
DIGITS_MAX = 16.0
DIGITS_NORMALIZATION = {
    "kind": "scale",
    "divide_by": DIGITS_MAX,
    "range": [0.0, 1.0],
    "description": "ink per 4x4 block of a 32x32 bitmap, divided by 16; ink is 1, paper is 0",
}


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # float32 [N, 8, 8, 1] in [0, 1]
    y: np.ndarray  # int64 [N]


@dataclass(frozen=True)
class Dataset:
    train: Split
    val: Split
    test: Split
    class_names: list[str]


def load_digits(seed: int, val_fraction: float, test_fraction: float) -> Dataset:
    """The digits data as [N, 8, 8, 1] float32 in [0, 1], split stratified and deterministically."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = (bunch.images / DIGITS_MAX).astype(np.float32)[..., np.newaxis]
    y = bunch.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=val_fraction / (1.0 - test_fraction),
        stratify=y_rest,
        random_state=seed,
    )
    return Dataset(
        Split(x_train, y_train), Split(x_val, y_val), Split(x_test, y_test), DIGITS_CLASSES
    )


def write_golden(
    out_dir: Path,
    x: np.ndarray,
    labels: np.ndarray | None,
    reference: np.ndarray,
    class_names: list[str] | None,
    input_name: str,
    output_name: str,
) -> None:
    """The held-out inputs, labels and Keras reference outputs, as npz and as JSON for JavaScript."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {"x": x.astype(np.float32), "reference": reference.astype(np.float32)}
    if labels is not None:
        arrays["y"] = labels.astype(np.int64)
    np.savez(out_dir / "golden.npz", **arrays)
    doc = {
        "input_name": input_name,
        "output_name": output_name,
        "shape": list(x.shape),
        "class_names": class_names,
        "x": np.round(x.astype(np.float64), 8).reshape(len(x), -1).tolist(),
        "labels": None if labels is None else labels.astype(int).tolist(),
        "reference": np.round(reference.astype(np.float64), 8).tolist(),
    }
    (out_dir / "golden.json").write_text(json.dumps(doc, separators=(",", ":")))


@dataclass(frozen=True)
class Golden:
    x: np.ndarray
    labels: np.ndarray | None
    reference: np.ndarray


def read_golden(golden_dir: Path) -> Golden:
    path = golden_dir / "golden.npz"
    if not path.is_file():
        raise UserError(f"no golden set at {path}: run `python -m pipeline run` first")
    with np.load(path) as f:
        return Golden(f["x"], f.get("y"), f["reference"])


def load_samples(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A user's samples npz: inputs under `x` (or the only array), optional labels under `y`."""
    if not path.is_file():
        raise UserError(f"samples file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.keys())
            if "x" in keys:
                x = f["x"]
            elif len(keys) == 1:
                x = f[keys[0]]
            else:
                raise UserError(f"{path}: expected an array named 'x' among {keys}")
            y = f["y"] if "y" in keys else None
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    if y is not None and len(y) != len(x):
        raise UserError(f"{path}: {len(x)} samples in 'x' but {len(y)} labels in 'y'")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2:  # one-hot labels
            y = y.argmax(axis=1)
        y = y.astype(np.int64)
    return np.asarray(x), y


def preprocess_image_bytes(data, size: tuple[int, int] = (8, 8)):
    """Encoded PNG/JPEG bytes → float32 [H, W, 1] in the training representation (TensorFlow ops).

    Matches the digits data: grayscale, ink bright on dark paper (a light background is inverted),
    then area-averaged down to `size`, which is exactly the 4x4 block mean of a 32x32 bitmap.
    The same function runs inside the SavedModel's `predict_image` signature and in the CLI.
    """
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=1, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)  # [0, 1]
    image = tf.cond(tf.reduce_mean(image) > 0.5, lambda: 1.0 - image, lambda: image)
    image = tf.image.resize(image, size, method="area")
    image = tf.clip_by_value(image, 0.0, 1.0)
    return tf.ensure_shape(image, [size[0], size[1], 1])


def load_input_file(path: Path, input_shape: tuple[int | None, ...]) -> np.ndarray:
    """A PNG/JPEG (any size) or an .npy array as a float32 batch shaped like the model's input.

    .npy files are read as the edge runtime reads them (mobile.inputs.load_npy); images go through
    the same TensorFlow function as the SavedModel's predict_image signature.
    """
    if path.suffix.lower() == ".npy":
        try:
            return load_npy(path, input_shape)
        except BadInput as exc:
            raise UserError(str(exc)) from None
    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    sample_shape = tuple(input_shape[1:])
    if len(sample_shape) != 3 or sample_shape[-1] != 1 or None in sample_shape:
        raise UserError(
            f"images need a model with a [H, W, 1] input; this one takes {list(sample_shape)}"
        )
    import tensorflow as tf

    try:
        image = preprocess_image_bytes(tf.constant(path.read_bytes()), sample_shape[:2])
    except tf.errors.InvalidArgumentError:
        raise UserError(f"{path}: not a decodable PNG/JPEG image") from None
    return image.numpy()[np.newaxis]
