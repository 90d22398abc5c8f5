"""Inputs from files without TensorFlow: a PNG/JPEG in the training representation, an .npy, or
an .npz with one array per input of any model.

`preprocess_image` is pipeline/data.py's `preprocess_image_bytes` (the TensorFlow function inside
the SavedModel's predict_image signature) redone with Pillow and numpy: decode to grayscale,
scale to [0, 1], invert a light background, area-resize, clip. It decodes the way TensorFlow's
decoders do, so that the two agree (tests/unit/test_mobile_inputs.py holds them to it):
- PNG: libpng's RGB-to-gray with TensorFlow's coefficients (0.299, 0.587 in 1/32768 units,
  truncated), alpha dropped, 16-bit samples cut to their high byte: equal to the pixel.
- JPEG: the Y channel, as libjpeg gives it for grayscale output. TensorFlow's decode_image uses
  the fast integer DCT and Pillow the accurate one, so pixels may differ by a few levels (~1%).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mobile.errors import BadInput

if TYPE_CHECKING:
    from mobile.runtime import TensorSpec

# libpng's fixed-point weights for png_set_rgb_to_gray(png, 1, 0.299, 0.587), as TF's PNG decoder
# calls it; blue takes the rest of 32768, and the sum is shifted down without rounding.
_PNG_GRAY = (9797, 19234, 32768 - 9797 - 19234)


def decode_gray(data: bytes) -> np.ndarray:
    """Encoded image bytes → uint8 [H, W] grayscale, the way tf.io.decode_image(channels=1) does."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.format == "JPEG":
            image.draft("L", image.size)  # libjpeg outputs luma directly, as TF asks it to
        image.load()
    except UnidentifiedImageError:
        raise BadInput("not a decodable PNG/JPEG image (unknown format)") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"not a decodable PNG/JPEG image ({exc})") from None
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        return (np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8)  # libpng strip_16
    if mode in ("P", "PA", "CMYK", "YCbCr", "1"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
        mode = image.mode
    pixels = np.asarray(image)
    if mode in ("L", "LA"):
        return pixels[..., 0] if pixels.ndim == 3 else pixels
    if mode in ("RGB", "RGBA"):
        rgb = pixels[..., :3].astype(np.uint32)
        weights = np.array(_PNG_GRAY, dtype=np.uint32)
        return ((rgb @ weights) >> 15).astype(np.uint8)
    return np.asarray(image.convert("L"))


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[H, W] → `size` by area averaging, as tf.image.resize(method="area") computes it.

    Each output cell averages the input pixels it covers, weighted by the covered fraction of
    each; for 32x32 → 8x8 that is exactly the mean of each 4x4 block.
    """
    rows = _area_weights(image.shape[0], size[0])
    cols = _area_weights(image.shape[1], size[1])
    return (rows @ image.astype(np.float32) @ cols.T).astype(np.float32)


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    scale = n_in / n_out
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    for o in range(n_out):
        start, end = o * scale, (o + 1) * scale
        for i in range(int(np.floor(start)), min(int(np.ceil(end)), n_in)):
            weights[o, i] = min(i + 1, end) - max(i, start)
    return (weights / scale).astype(np.float32)


def preprocess_image(data: bytes, size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Encoded PNG/JPEG bytes → float32 [H, W, 1] in [0, 1], ink bright on dark paper."""
    image = decode_gray(data).astype(np.float32) * np.float32(1 / 255)  # convert_image_dtype
    if image.mean(dtype=np.float32) > 0.5:  # a light background: invert, ink becomes bright
        image = np.float32(1.0) - image
    return np.clip(area_resize(image, size), 0.0, 1.0)[..., np.newaxis]


def load_input(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A PNG/JPEG (any size) or an .npy array as a float batch shaped like the model's input.

    `shape` is the model input's shape signature, batch first (-1 where dynamic).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return load_npy(path, shape)
    if not path.is_file():
        raise BadInput(f"input file not found: {path}")
    sample = tuple(shape[1:])
    if len(sample) != 3 or sample[-1] != 1 or min(sample) < 1:
        raise BadInput(
            f"images need a model with an [H, W, 1] input; this one takes {_show(sample)}"
        )
    try:
        image = preprocess_image(path.read_bytes(), sample[:2])
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None
    return image[np.newaxis]


def load_npy(path: Path, shape: tuple[int | None, ...]) -> np.ndarray:
    """An .npy array as a float32 batch for a model input of `shape` (batch first).

    -1 or None marks a dynamic dimension (TFLite's and Keras's spellings). One sample gets a batch
    axis; anything else that does not fit raises BadInput with one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"input file not found: {path}")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise BadInput(f"{path}: not a readable .npy array ({exc})") from None
    x = np.asarray(x, dtype=np.float32)
    sample = tuple(shape[1:])
    if _fits(x.shape, sample):
        x = x[np.newaxis]
    if x.ndim != len(sample) + 1 or not _fits(x.shape[1:], sample):
        raise BadInput(
            f"{path}: shape {list(x.shape)} does not fit the model input "
            f"{_show(sample)} (or a batch of it)"
        )
    return x


def load_inputs(path: Path, inputs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    """A file as the signature's inputs by name: an .npz for any model, else an image or .npy
    for a model with one input."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path, inputs)
    if len(inputs) != 1:
        raise BadInput(
            f"the model takes {len(inputs)} inputs ({', '.join(inputs)}): give an .npz with one "
            f"array each, not {path.name}"
        )
    ((name, spec),) = inputs.items()
    return {name: load_input(path, spec.shape)}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive by name, without unpickling; what is not one is one line."""
    if not path.is_file():
        raise BadInput(f"input file not found: {path}")
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle
        raise BadInput(f"{path}: not an .npz archive (np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:
        raise BadInput(f"{path}: not a readable .npz archive ({_first_line(exc)})") from None


def load_npz(path: Path, inputs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    """An .npz with one array per input name, each in its tensor's dtype (see `conform`).

    A model with one input also takes `x`; labels `y` and `y_<output>` (the pipeline's samples
    files carry them) are left out. An array of one sample gets a batch axis.
    """
    path = Path(path)
    arrays = read_npz(path)
    wanted = list(inputs)
    if len(wanted) == 1 and "x" in arrays and wanted[0] not in arrays:
        arrays[wanted[0]] = arrays.pop("x")
    missing = [n for n in wanted if n not in arrays]
    if missing:
        raise BadInput(
            f"{path}: no array {', '.join(map(repr, missing))}; the model takes "
            f"{', '.join(wanted)} (the file holds {', '.join(arrays) or 'nothing'})"
        )
    unused = [k for k in arrays if k not in wanted and k != "y" and not k.startswith("y_")]
    if unused:
        raise BadInput(
            f"{path}: arrays {', '.join(unused)} match no input of the model ({', '.join(wanted)})"
        )
    feed = {n: conform(arrays[n], inputs[n], path) for n in wanted}
    sizes = {n: len(v) for n, v in feed.items()}
    if len(set(sizes.values())) > 1:
        raise BadInput(f"{path}: the arrays differ in their number of samples: {sizes}")
    return feed


def conform(x: np.ndarray, spec: TensorSpec, path: Path) -> np.ndarray:
    """An array as a TFLite input tensor takes it. Strings become UTF-8 bytes (TFLite's string
    tensors hold bytes); a quantized input gets floats, which the runtime quantizes; integers are
    cast to the tensor's type, refusing fractions and values out of its range."""
    where = f"{path}: input {spec.name!r}"
    sample = spec.shape[1:]
    if x.ndim == len(sample) and _fits(x.shape, sample):
        x = x[np.newaxis]
    text, wants_text = x.dtype.kind in "SUO", spec.dtype.kind in "SUO"
    if text != wants_text:
        what = "strings" if text else f"{x.dtype} numbers"
        raise BadInput(f"{where} holds {what}; the model takes {_dtype_name(spec)}")
    if text:
        return np.char.encode(x, "utf-8") if x.dtype.kind == "U" else x
    if spec.quantized or spec.dtype.kind == "f":
        return x.astype(np.float32 if spec.quantized else spec.dtype)
    if x.dtype.kind == "f" and not np.all(np.mod(x, 1) == 0):
        raise BadInput(f"{where} holds fractions; the model takes {_dtype_name(spec)}")
    cast = x.astype(spec.dtype)
    if not np.array_equal(cast, x):
        raise BadInput(f"{where} holds values out of {_dtype_name(spec)}'s range")
    return cast


def _dtype_name(spec: TensorSpec) -> str:
    return "string" if spec.dtype.kind in "SUO" else str(spec.dtype)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fits(got: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    return len(got) == len(want) and all(w in (-1, None, g) for g, w in zip(got, want, strict=True))


def _show(shape: tuple[int | None, ...]) -> list:
    return ["?" if d in (-1, None) else d for d in shape]
