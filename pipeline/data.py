"""Data: scikit-learn's bundled digits, a seeded stratified split, the golden set, image input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mobile.errors import BadInput
from mobile.inputs import load_npy, read_npz
from pipeline.errors import UserError
from pipeline.metadata import ModelInfo

CALIBRATION_FILE = "calibration.npz"  # beside the golden set: int8 calibration inputs
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


Arrays = dict[str, np.ndarray]  # one array per signature input or output, by name


def write_golden(
    out_dir: Path,
    info: ModelInfo,
    inputs: Arrays,
    labels: Arrays,
    reference: Arrays,
) -> None:
    """The held-out inputs, labels and Keras reference outputs, as npz and as JSON for JavaScript.

    In the npz every array is keyed `input:<name>`, `label:<output>` or `reference:<output>`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {f"input:{k}": _storable(v) for k, v in inputs.items()}
    arrays |= {f"label:{k}": v for k, v in labels.items()}
    arrays |= {f"reference:{k}": v.astype(np.float32) for k, v in reference.items()}
    np.savez(out_dir / "golden.npz", **arrays)
    first_in, first_out = info.inputs[0].name, info.outputs[0].name
    first_labels = labels.get(first_out)
    doc = {
        "input_name": first_in,
        "output_name": first_out,
        "shape": list(inputs[first_in].shape),
        "class_names": info.class_names,
        # the first input and output flattened per sample, as the digits page reads them
        "x": _json_values(inputs[first_in].reshape(len(inputs[first_in]), -1)),
        "labels": None if first_labels is None else first_labels.tolist(),
        "reference": _json_values(reference[first_out].reshape(len(reference[first_out]), -1)),
        "inputs": {
            k: {"shape": list(v.shape), "dtype": info.input(k).dtype, "values": _json_values(v)}
            for k, v in inputs.items()
        },
        "references": {k: _json_values(v) for k, v in reference.items()},
        "label_values": {k: v.tolist() for k, v in labels.items()},
    }
    (out_dir / "golden.json").write_text(json.dumps(doc, separators=(",", ":")))


def _storable(values: np.ndarray) -> np.ndarray:
    """Strings as numpy unicode, which an npz holds without pickling."""
    if values.dtype == object or values.dtype.kind == "S":
        return np.vectorize(_text, otypes=[str])(values) if values.size else values.astype(str)
    return values


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _json_values(values: np.ndarray) -> list:
    if values.dtype == object or values.dtype.kind in "SU":
        return _storable(values).tolist()
    if values.dtype.kind == "f":
        return np.round(values.astype(np.float64), 8).tolist()
    return values.tolist()


@dataclass(frozen=True)
class Golden:
    inputs: Arrays
    labels: Arrays  # by output name; only the outputs the samples label
    reference: Arrays  # the Keras model's outputs, by output name

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def single(self) -> Single:
        """The golden set of a one-input, one-output model (digits) as plain arrays."""
        if len(self.inputs) != 1 or len(self.reference) != 1:
            raise UserError(
                f"a model with {len(self.inputs)} inputs and {len(self.reference)} outputs: "
                "this needs one of each"
            )
        (x,), (reference,) = self.inputs.values(), self.reference.values()
        return Single(x, next(iter(self.labels.values()), None), reference)


class Single(NamedTuple):
    x: np.ndarray
    labels: np.ndarray | None
    reference: np.ndarray


def read_golden(golden_dir: Path) -> Golden:
    path = golden_dir / "golden.npz"
    if not path.is_file():
        raise UserError(f"no golden set at {path}: run `python -m pipeline run` first")
    parts: dict[str, Arrays] = {"input": {}, "label": {}, "reference": {}}
    with np.load(path) as f:
        for key in f.files:
            kind, _, name = key.partition(":")
            parts[kind][name] = f[key]
    return Golden(parts["input"], parts["label"], parts["reference"])


def write_calibration(golden_dir: Path, inputs: Arrays, count: int) -> None:
    """`count` training inputs, picked with a fixed seed, for int8 conversion to calibrate on."""
    n = len(next(iter(inputs.values())))
    picks = np.sort(np.random.default_rng(0).choice(n, size=min(count, n), replace=False))
    np.savez(golden_dir / CALIBRATION_FILE, **{k: _storable(v[picks]) for k, v in inputs.items()})


def read_calibration(golden_dir: Path) -> Arrays:
    with np.load(golden_dir / CALIBRATION_FILE) as f:
        return {k: f[k] for k in f.files}


def load_samples(path: Path, info: ModelInfo) -> tuple[Arrays, Arrays]:
    """A user's samples npz: one array per input name (or `x` for a model with one input) and
    optional labels, `y` for a model with one output or `y_<output>` for any of several.

    Every array is checked against the model's signature; what does not fit is one line.
    """
    if not path.is_file():
        raise UserError(f"samples file not found: {path}")
    try:
        arrays = read_npz(path)
    except BadInput as exc:
        raise UserError(str(exc)) from None
    inputs = {t.name: _sample_input(path, arrays, t, len(info.inputs) == 1) for t in info.inputs}
    labels = {}
    for out in info.outputs:
        key = f"y_{out.name}"
        if key not in arrays and len(info.outputs) == 1:
            key = "y"
        if key in arrays:
            labels[out.name] = _labels(path, key, arrays[key], out)
    known = set(inputs) | {f"y_{o.name}" for o in info.outputs}
    known |= {"x"} if len(info.inputs) == 1 else set()
    known |= {"y"} if len(info.outputs) == 1 else set()
    unused = set(arrays) - known
    if unused:
        wanted = ", ".join(t.name for t in info.inputs)
        raise UserError(
            f"{path}: arrays {sorted(unused)} match no input or label of the model "
            f"(inputs: {wanted}; labels: y or y_<output>)"
        )
    sizes = {k: len(v) for k, v in (inputs | {f"y_{k}": v for k, v in labels.items()}).items()}
    if len(set(sizes.values())) > 1:
        raise UserError(f"{path}: arrays differ in their number of samples: {sizes}")
    if not next(iter(sizes.values())):
        raise UserError(f"{path}: no samples")
    return inputs, labels


def _sample_input(path: Path, arrays: Arrays, tensor, only: bool) -> np.ndarray:
    if tensor.name in arrays:
        values = arrays[tensor.name]
    elif only and "x" in arrays:
        values = arrays["x"]
    elif only and len(arrays) == 1:
        values = next(iter(arrays.values()))
    else:
        raise UserError(
            f"{path}: no array named {tensor.name!r} for the model's input {tensor.name!r} "
            f"(found: {', '.join(sorted(arrays)) or 'none'})"
        )
    return conform(values, tensor, str(path))


def conform(values: np.ndarray, tensor, where: str) -> np.ndarray:
    """An array as the signature's input takes it: its rank and fixed sizes, its dtype."""
    want = tensor.shape[1:]
    got = list(values.shape[1:])
    fits = values.ndim == len(tensor.shape) and all(
        w in (None, g) for w, g in zip(want, got, strict=True)
    )
    if not fits:
        shown = ["N" if d is None else d for d in tensor.shape]
        raise UserError(
            f"{where}: input {tensor.name!r} has shape {list(values.shape)}, "
            f"the model takes {shown}"
        )
    is_text = values.dtype.kind in "SUO"
    if tensor.is_string != is_text:
        what = "strings" if is_text else f"{values.dtype} numbers"
        raise UserError(
            f"{where}: input {tensor.name!r} holds {what}, the model takes {tensor.dtype}"
        )
    if tensor.is_string:
        return _storable(values).astype(object)
    integral = tensor.dtype.startswith(("int", "uint"))
    if integral and values.dtype.kind == "f" and not np.all(np.mod(values, 1) == 0):
        raise UserError(
            f"{where}: input {tensor.name!r} holds fractions, the model takes {tensor.dtype}"
        )
    return values.astype(tensor.dtype)


def _labels(path: Path, key: str, values: np.ndarray, out) -> np.ndarray:
    classes = out.shape[-1] if len(out.shape) == 2 and (out.shape[-1] or 0) > 1 else None
    values = np.asarray(values)
    if classes is None:  # a regression output: labels are values in its units
        if values.dtype.kind not in "iuf":
            raise UserError(f"{path}: labels {key!r} are not numbers")
        return values.astype(np.float32).reshape(len(values), *out.shape[1:])
    if values.ndim == 2 and values.shape[1] == classes:  # one-hot labels
        values = values.argmax(axis=1)
    if (
        values.ndim != 1
        or values.dtype.kind not in "iu"
        or (len(values) and (values.min() < 0 or values.max() >= classes))
    ):
        raise UserError(
            f"{path}: labels {key!r} are not class ids 0..{classes - 1} of the {out.name!r} output"
        )
    return values.astype(np.int64)


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
