"""What every artifact carries about itself: names, shapes, classes, normalization, provenance."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config import ROOT
from pipeline.errors import UserError


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output of the serving signature, as the exported model declares it."""

    name: str
    shape: list[int | None]  # batch dimension first, as None; None for any variable length
    dtype: str  # TensorFlow's name: float32, int32, int64, string, ...

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    def numpy_dtype(self):
        """The numpy dtype a value of this tensor is held in (strings as Python objects)."""
        import numpy as np

        return np.dtype(object) if self.is_string else np.dtype(self.dtype)


@dataclass(frozen=True)
class ModelInfo:
    """Immutable: a copy with another version is `dataclasses.replace(info, version=N)`.

    `inputs` and `outputs` are the serving signature's, in the model's order. The `input_*` and
    `output_*` properties name the first of each: the only one of an image model such as digits,
    and what the web demo's metadata.json has always carried.
    """

    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    class_names: list[str] | None = None  # of the first output, when it is a classification
    normalization: dict | None = None
    version: int | None = None
    source_commit: str = ""
    created: str = field(default_factory=lambda: utc_now())

    @classmethod
    def from_keras(cls, model, name: str, class_names=None, normalization=None) -> ModelInfo:
        output_names = list(getattr(model, "output_names", None) or [])
        if len(output_names) != len(model.outputs):
            output_names = [f"output_{i}" for i in range(len(model.outputs))]
        inputs = tuple(
            TensorInfo(_tensor_name(t.name, f"input_{i}"), _shape(t), str(t.dtype))
            for i, t in enumerate(model.inputs)
        )
        outputs = tuple(
            TensorInfo(_tensor_name(n, f"output_{i}"), _shape(t), str(t.dtype))
            for i, (n, t) in enumerate(zip(output_names, model.outputs, strict=True))
        )
        for kind, tensors in (("input", inputs), ("output", outputs)):
            names = [t.name for t in tensors]
            if len(set(names)) != len(names):
                raise UserError(f"the model's {kind} names repeat ({names}): name each one")
        return cls(
            name=name,
            inputs=inputs,
            outputs=outputs,
            class_names=class_names,
            normalization=normalization,
            source_commit=source_commit(),
        )

    def input(self, name: str) -> TensorInfo:
        return next(t for t in self.inputs if t.name == name)

    def output(self, name: str) -> TensorInfo:
        return next(t for t in self.outputs if t.name == name)

    @property
    def input_name(self) -> str:
        return self.inputs[0].name

    @property
    def input_shape(self) -> list[int | None]:
        return self.inputs[0].shape

    @property
    def input_dtype(self) -> str:
        return self.inputs[0].dtype

    @property
    def output_name(self) -> str:
        return self.outputs[0].name

    @property
    def output_shape(self) -> list[int | None]:
        return self.outputs[0].shape

    @property
    def is_image(self) -> bool:
        """One [H, W, 1] float input: the model can take decoded PNG/JPEG images."""
        shape = self.input_shape[1:]
        return (
            len(self.inputs) == 1
            and len(shape) == 3
            and shape[-1] == 1
            and None not in shape
            and self.input_dtype.startswith("float")
        )

    @property
    def num_classes(self) -> int | None:
        return self.output_shape[-1] if len(self.output_shape) == 2 else None

    def to_dict(self) -> dict:
        doc = asdict(self)
        # the first input and output under the names every reader before several inputs knew
        doc.update(
            input_name=self.input_name,
            input_shape=self.input_shape,
            input_dtype=self.input_dtype,
            output_name=self.output_name,
            output_shape=self.output_shape,
        )
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> ModelInfo:
        doc = dict(doc)
        if "inputs" not in doc:  # written before several inputs and outputs
            doc["inputs"] = [
                {
                    "name": doc["input_name"],
                    "shape": doc["input_shape"],
                    "dtype": doc["input_dtype"],
                }
            ]
            doc["outputs"] = [
                {"name": doc["output_name"], "shape": doc["output_shape"], "dtype": "float32"}
            ]
        doc["inputs"] = tuple(TensorInfo(**t) for t in doc["inputs"])
        doc["outputs"] = tuple(TensorInfo(**t) for t in doc["outputs"])
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})

    def write(self, path: Path, **extra) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**self.to_dict(), **extra}, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> ModelInfo:
        if not path.is_file():
            raise UserError(f"no metadata at {path}: run `python -m pipeline run` first")
        return cls.from_dict(json.loads(path.read_text()))


def _shape(tensor) -> list[int | None]:
    return [None, *[_dim(d) for d in tensor.shape[1:]]]


def _dim(d) -> int | None:
    return None if d is None else int(d)


def _tensor_name(name: str, fallback: str) -> str:
    """A signature key: Keras tensor names may carry ':0' or scope slashes."""
    clean = name.split(":")[0].split("/")[-1]
    return clean or fallback


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def source_commit() -> str:
    """The project's git commit, with '-dirty' when the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def sha256_of(path: Path, recursive: bool = True) -> str:
    """sha256 of a file, or of a directory's files (relative path and contents, in sorted order).

    A directory's own metadata.json is left out: it records this very hash.
    """
    digest = hashlib.sha256()
    if path.is_file():
        files = [path]
    else:
        found = path.rglob("*") if recursive else path.iterdir()
        files = sorted(p for p in found if p.is_file() and p.name != METADATA_FILE)
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


METADATA_FILE = "metadata.json"


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
