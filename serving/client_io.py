"""The serving client's files and terminal: signatures' dtypes, .npz inputs by name, outputs
printed per name (top classes of a classification output, else values)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# TensorFlow's DataType names, as SignatureDefs spell them, in numpy; strings travel as bytes
_SAME_NAMES = ("bool", *(f"{u}int{n}" for u in ("", "u") for n in (8, 16, 32, 64)))
DTYPES = {f"DT_{t.upper()}": np.dtype(t) for t in _SAME_NAMES} | {
    "DT_HALF": np.dtype(np.float16),
    "DT_FLOAT": np.dtype(np.float32),
    "DT_DOUBLE": np.dtype(np.float64),
    "DT_STRING": np.dtype(object),
}


class ClientError(Exception):
    pass


@dataclass(frozen=True)
class Signature:
    """A signature's input and output aliases with their numpy dtypes (None: not one we know)."""

    name: str
    inputs: dict[str, np.dtype | None]
    outputs: dict[str, np.dtype | None]

    @classmethod
    def from_map(cls, signature_def_map: dict, name: str) -> Signature:
        """From a SignatureDefMap as JSON: REST's /metadata body, or the gRPC one converted."""
        defs = signature_def_map.get("signature_def", {})
        if name not in defs:
            raise ClientError(f"the model has no signature {name!r}; it has {sorted(defs)}")

        def dtypes(tensors: dict) -> dict[str, np.dtype | None]:
            return {k: DTYPES.get(tensors[k].get("dtype")) for k in sorted(tensors)}

        return cls(
            name, dtypes(defs[name].get("inputs", {})), dtypes(defs[name].get("outputs", {}))
        )


# ---- inputs ----


def load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ClientError(f"file not found: {path}")
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle
        raise ClientError(
            f"{path} is not an .npz archive (np.savez writes one; --npy takes one array)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as e:  # a damaged archive, object arrays: numpy's words, on one line
        raise ClientError(f"cannot read {path}: {first_line(e)}") from None


def npz_inputs(arrays: dict, signature: Signature, path: Path) -> dict[str, np.ndarray]:
    """One array per signature input, by name (`x` also feeds a signature's only input; labels
    `y` and `y_<output>`, as in the pipeline's samples files, are left out)."""
    wanted = list(signature.inputs)
    if len(wanted) == 1 and "x" in arrays and wanted[0] not in arrays:
        arrays = {wanted[0] if k == "x" else k: v for k, v in arrays.items()}
    missing = [n for n in wanted if n not in arrays]
    if missing:
        raise ClientError(
            f"{path} has no array {', '.join(map(repr, missing))}; signature "
            f"{signature.name!r} takes {', '.join(wanted)} (the file holds {', '.join(arrays)})"
        )
    unused = [k for k in arrays if k not in wanted and k != "y" and not k.startswith("y_")]
    if unused:
        raise ClientError(
            f"{path}: arrays {', '.join(unused)} match no input of signature {signature.name!r} "
            f"({', '.join(wanted)})"
        )
    return {n: conform(arrays[n], n, signature.inputs[n]) for n in wanted}


def conform(values: np.ndarray, name: str, dtype: np.dtype | None) -> np.ndarray:
    """An array in the input's dtype: a TensorProto must carry the signature's exact dtype, so
    ints are cast, fractions refused for an integer input, strings made UTF-8 bytes objects."""
    is_text = values.dtype.kind in "SUO"
    if dtype is None:
        return _as_bytes(values) if is_text else values
    if (dtype.kind == "O") != is_text:
        what = "strings" if is_text else f"{values.dtype} numbers"
        want = "string" if dtype.kind == "O" else str(dtype)
        raise ClientError(f"input {name!r} holds {what}; the signature takes {want}")
    if dtype.kind == "O":
        return _as_bytes(values)
    if dtype.kind in "iub" and values.dtype.kind == "f" and not np.all(np.mod(values, 1) == 0):
        raise ClientError(f"input {name!r} holds fractions; the signature takes {dtype}")
    cast = values.astype(dtype)
    if dtype.kind in "iu" and not np.array_equal(cast, values):
        raise ClientError(f"input {name!r} holds values out of {dtype}'s range")
    return cast


def _as_bytes(values: np.ndarray) -> np.ndarray:
    encode = np.frompyfunc(lambda v: v.encode() if isinstance(v, str) else bytes(v), 1, 1)
    return encode(values).astype(object)


def first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ---- output ----


def read_labels(model: str, given: Path | None) -> list[str] | None:
    path = given or ROOT / "models" / "tflite" / model / "labels.txt"
    if path.exists():
        return path.read_text().splitlines()
    if given:
        raise ClientError(f"labels file not found: {given}")
    return None


def is_classification(values: np.ndarray) -> bool:
    """Scores per class: a float [N, C] output with C > 1."""
    return values.ndim == 2 and values.shape[1] > 1 and values.dtype.kind == "f"


def top_classes(probabilities: np.ndarray, labels: list[str] | None, k: int) -> list[str]:
    lines = []
    for i, row in enumerate(np.atleast_2d(probabilities)):
        order = np.argsort(row)[::-1][:k]
        names = [labels[j] if labels and j < len(labels) else str(j) for j in order]
        ranked = ", ".join(f"{n} {row[j]:.4f}" for n, j in zip(names, order, strict=True))
        lines.append(f"{i}: {ranked}")
    return lines


def value_lines(values: np.ndarray) -> list[str]:
    """One line per sample: its values flattened, numbers as %.6g, strings JSON-quoted."""
    values = np.asarray(values)
    rows = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
    return [f"{i}: {' '.join(_show(v) for v in row)}" for i, row in enumerate(rows)]


def _show(v) -> str:
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    return f"{v:.6g}" if isinstance(v, (float, np.floating)) else str(v)


def print_outputs(outputs: dict[str, np.ndarray], labels: list[str] | None, top: int) -> None:
    """Each output by name: top classes of a classification output, else values per sample."""
    for name in sorted(outputs):
        values = outputs[name]
        if len(outputs) > 1:
            print(f"{name}:")
        lines = (
            top_classes(values, labels, top) if is_classification(values) else value_lines(values)
        )
        for line in lines:
            print(line)
