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
class ModelInfo:
    """Immutable: a copy with another version is `dataclasses.replace(info, version=N)`."""

    name: str
    input_name: str
    input_shape: list[int | None]  # batch dimension first, as None
    input_dtype: str
    output_name: str
    output_shape: list[int | None]
    class_names: list[str] | None = None
    normalization: dict | None = None
    version: int | None = None
    source_commit: str = ""
    created: str = field(default_factory=lambda: utc_now())

    @classmethod
    def from_keras(cls, model, name: str, class_names=None, normalization=None) -> ModelInfo:
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UserError(
                f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                "the pipeline exports single-input, single-output models"
            )
        inp, out = model.inputs[0], model.outputs[0]
        output_name = (getattr(model, "output_names", None) or ["output_0"])[0]
        return cls(
            name=name,
            input_name=_tensor_name(inp.name, "input"),
            input_shape=[None, *[_dim(d) for d in inp.shape[1:]]],
            input_dtype=str(inp.dtype),
            output_name=_tensor_name(output_name, "output"),
            output_shape=[None, *[_dim(d) for d in out.shape[1:]]],
            class_names=class_names,
            normalization=normalization,
            source_commit=source_commit(),
        )

    @property
    def is_image(self) -> bool:
        """A [H, W, 1] float input: the model can take decoded PNG/JPEG images."""
        shape = self.input_shape[1:]
        return (
            len(shape) == 3
            and shape[-1] == 1
            and None not in shape
            and self.input_dtype.startswith("float")
        )

    @property
    def num_classes(self) -> int | None:
        return self.output_shape[-1] if len(self.output_shape) == 2 else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> ModelInfo:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})

    def write(self, path: Path, **extra) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**self.to_dict(), **extra}, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> ModelInfo:
        if not path.is_file():
            raise UserError(f"no metadata at {path}: run `python -m pipeline run` first")
        return cls.from_dict(json.loads(path.read_text()))


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
