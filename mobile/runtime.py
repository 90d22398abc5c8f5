"""Load a .tflite in LiteRT or tflite-runtime and run it by signature, with float I/O throughout.

Quantized (int8/uint8) inputs are quantized from floats and quantized outputs dequantized with
each tensor's own scale and zero point, so an int8 model is called exactly like the fp32 one.
The signature runner resizes its input tensors to each call's shape (ResizeInputTensor, then
AllocateTensors; both are no-ops when the shape is unchanged), so any batch size works.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobile import flatbuffer
from mobile.errors import BadInput, CannotRun
from mobile.quant import dequantize, is_quantized, quantize

RUNTIMES = ("litert", "tflite-runtime")
_PACKAGES = {"litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}
DEFAULT_SIGNATURE = "serving_default"  # TensorFlow's default signature key, kept by the converter


def installed(runtime: str) -> bool:
    return importlib.util.find_spec(_PACKAGES[runtime]) is not None


def resolve(runtime: str) -> str:
    """`auto` is LiteRT where it is installed, else tflite-runtime."""
    if runtime != "auto":
        if runtime not in RUNTIMES:
            raise BadInput(
                f"unknown runtime {runtime!r}; choose one of: auto, {', '.join(RUNTIMES)}"
            )
        return runtime
    for candidate in RUNTIMES:
        if installed(candidate):
            return candidate
    raise BadInput("no TFLite runtime installed: pip install ai-edge-litert (or tflite-runtime)")


def version_of(runtime: str) -> str:
    module = importlib.import_module(_PACKAGES[runtime])
    return getattr(module, "__version__", "unknown")


def interpreter_class(runtime: str):
    if not installed(runtime):
        raise BadInput(f"{runtime} is not installed in this Python ({sys.executable})")
    return importlib.import_module(f"{_PACKAGES[runtime]}.interpreter").Interpreter


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Collect what the runtime's C++ code writes to file descriptor 2.

    TFLite reports errors there as well as in its exceptions, and logs lines such as
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."; a command's stderr stays ours.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    lines: list[str] = []
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(ln for ln in sink.read().decode(errors="replace").splitlines() if ln)


def runtime_reason(exc: BaseException, native: list[str]) -> str:
    """The runtime's own explanation: its exception text and its logged errors, each line once."""
    lines = []
    for line in [*str(exc).splitlines(), *native]:
        line = line.strip().removeprefix("ERROR: ").strip()
        if line and not line.startswith("INFO:") and line not in lines:
            lines.append(line)
    return "\n".join(lines) or type(exc).__name__


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]  # -1 where the dimension is dynamic
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return is_quantized(self.dtype, self.scale)

    @classmethod
    def from_details(cls, name: str, d: dict) -> TensorSpec:
        scale, zero_point = d.get("quantization", (0.0, 0))
        shape = d.get("shape_signature")
        shape = d["shape"] if shape is None or len(shape) == 0 else shape
        return cls(name, np.dtype(d["dtype"]), tuple(int(s) for s in shape), scale, zero_point)


class TfliteModel:
    """One .tflite model, one signature, in one runtime; call it with float arrays."""

    def __init__(
        self,
        path: str | Path,
        runtime: str = "auto",
        threads: int = 1,
        signature: str | None = None,
    ):
        self.path = Path(path)
        self.file = flatbuffer.read(self.path)  # refuses foreign and truncated files first
        self.runtime = resolve(runtime)
        self.threads = threads
        if threads < 1:
            raise BadInput("--threads must be at least 1")
        interpreter = interpreter_class(self.runtime)
        with native_stderr() as native:
            try:
                self._interpreter = interpreter(model_path=str(self.path), num_threads=threads)
            except Exception as exc:
                raise CannotRun(runtime_reason(exc, native)) from None
        signatures = self._interpreter.get_signature_list()
        if not signatures:
            raise BadInput(
                f"{self.path}: the model has no signatures; convert it from a SavedModel or "
                "concrete functions so that its inputs and outputs have names"
            )
        self.signature = _pick(signatures, signature, self.path)
        self._runner = self._interpreter.get_signature_runner(self.signature)
        self.inputs = {
            n: TensorSpec.from_details(n, d) for n, d in self._runner.get_input_details().items()
        }
        self.outputs = {
            n: TensorSpec.from_details(n, d) for n, d in self._runner.get_output_details().items()
        }
        self._invoked = False

    @property
    def input(self) -> TensorSpec:
        return _only(self.inputs, "inputs")

    @property
    def output(self) -> TensorSpec:
        return _only(self.outputs, "outputs")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """A single-input, single-output model on a float batch: float32 outputs."""
        return self.run({self.input.name: x})[self.output.name]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the signature for the named inputs, dequantized where quantized."""
        missing = set(self.inputs) - set(inputs)
        if missing:
            raise BadInput(
                f"missing inputs {sorted(missing)}; the signature takes {list(self.inputs)}"
            )
        batch = len(next(iter(inputs.values())))
        if batch > 1 and any(spec.shape[:1] == (1,) for spec in self.inputs.values()):
            return self._one_at_a_time(inputs, batch)
        feed = {name: self._prepare(self.inputs[name], value) for name, value in inputs.items()}
        if self._invoked:
            raw = self._runner(**feed)
        else:  # the first call allocates and prepares every op: where a runtime says no
            with native_stderr() as native:
                try:
                    raw = self._runner(**feed)
                except Exception as exc:
                    raise CannotRun(runtime_reason(exc, native)) from None
            self._invoked = True
        return {name: self._finish(self.outputs[name], value) for name, value in raw.items()}

    def _one_at_a_time(self, inputs: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
        """A file converted at batch 1 (an RNN's loop converts only so) takes a batch in turns."""
        parts = [
            self.run({n: np.asarray(v)[i : i + 1] for n, v in inputs.items()}) for i in range(batch)
        ]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def warm_up(self) -> dict[str, np.ndarray]:
        """Invoke once on a batch of one zero sample: allocates, prepares and runs every op."""
        return self.run({n: np.zeros(_one(s.shape), np.float32) for n, s in self.inputs.items()})

    def _prepare(self, spec: TensorSpec, value) -> np.ndarray:
        x = np.asarray(value)
        fits = x.ndim == len(spec.shape) and all(
            want in (-1, got) for want, got in zip(spec.shape[1:], x.shape[1:], strict=True)
        )
        if not fits:
            raise BadInput(
                f"input {spec.name!r} has shape {list(x.shape)}; the model takes "
                f"{['N' if d == -1 else d for d in spec.shape]} (any batch size N)"
            )
        if spec.quantized and not np.issubdtype(x.dtype, np.integer):
            return quantize(x, spec.scale, spec.zero_point, spec.dtype)
        return x.astype(spec.dtype, copy=False)

    @staticmethod
    def _finish(spec: TensorSpec, value: np.ndarray) -> np.ndarray:
        if spec.quantized:
            return dequantize(value, spec.scale, spec.zero_point)
        return value


def _pick(signatures: dict, wanted: str | None, path: Path) -> str:
    if wanted is not None:
        if wanted not in signatures:
            raise BadInput(f"{path}: no signature {wanted!r}; it has {sorted(signatures)}")
        return wanted
    if len(signatures) == 1:
        return next(iter(signatures))
    if DEFAULT_SIGNATURE in signatures:
        return DEFAULT_SIGNATURE
    raise BadInput(f"{path}: several signatures {sorted(signatures)}; name one with --signature")


def _only(specs: dict[str, TensorSpec], what: str) -> TensorSpec:
    if len(specs) != 1:
        raise BadInput(f"the signature has {len(specs)} {what} ({list(specs)}); use run() by name")
    return next(iter(specs.values()))


def _one(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if d == -1 else d for d in shape)


def labels_for(path: Path) -> list[str] | None:
    """Class names from labels.txt beside the model, one a line, as TFLite's task APIs read them."""
    labels = Path(path).parent / "labels.txt"
    if not labels.is_file():
        return None
    return [line.strip() for line in labels.read_text().splitlines() if line.strip()]
