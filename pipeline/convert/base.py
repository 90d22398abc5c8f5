"""The converter contract: validate the input, convert, validate the output, in one place."""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.config import SERVING_SIGNATURE
from pipeline.metadata import ModelInfo


@dataclass(frozen=True)
class ConvertContext:
    savedmodel: Path  # the exported version directory
    info: ModelInfo
    representative: dict[str, np.ndarray]  # training inputs by name, for int8 calibration
    reference: Path | None = None  # model.keras, for a converter that must trace the model again


@dataclass(frozen=True)
class Conversion:
    """How one target's conversion ended; the manifest keeps it as a dict."""

    target: str
    ok: bool
    reason: str = ""  # the converter's own words when it could not take the model
    seconds: float = 0.0
    note: str = ""  # how it was converted, when that is not the usual way

    def to_dict(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 2)}

    @classmethod
    def from_dict(cls, doc: dict) -> Conversion:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


class ConversionError(Exception):
    """A converter's own explanation of why a target cannot take this model."""


class Converter:
    """Writes one artifact at `out` from the SavedModel; the base checks what goes in and out."""

    def convert(self, ctx: ConvertContext, out: Path) -> str | None:
        """Write the artifact; return a note when it was made in an unusual way."""
        raise NotImplementedError

    def run(self, target: str, ctx: ConvertContext, out: Path) -> Conversion:
        start = time.perf_counter()
        try:
            _check_savedmodel(ctx.savedmodel)
            out.parent.mkdir(parents=True, exist_ok=True)
            note = self.convert(ctx, out) or ""
            if not out.exists() or (out.is_file() and out.stat().st_size == 0):
                raise ConversionError(f"converter finished but wrote nothing at {out}")
        except Exception as exc:  # any converter failure is this target's, not the run's
            reason = one_line(exc)
            return Conversion(target, False, reason, time.perf_counter() - start)
        return Conversion(target, True, "", time.perf_counter() - start, note)


@functools.cache
def _check_savedmodel(path: Path) -> None:
    """Validate the input once per run, not once per converter."""
    if not (path / "saved_model.pb").is_file():
        raise ConversionError(f"no SavedModel at {path}")
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if SERVING_SIGNATURE not in loaded.signatures:
        raise ConversionError(f"SavedModel at {path} has no '{SERVING_SIGNATURE}' signature")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The most telling line of an error (converters tend to print pages)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    telling = [ln for ln in lines if "error" in ln.lower()] or lines
    line = telling[0] if telling else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
