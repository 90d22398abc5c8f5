"""tflite-runtime 2.14: the mobile package in its own environment (numpy < 2), as a subprocess.

Inputs go in and outputs come back as .npz files in a temporary directory; the subprocess is
`python -m mobile.npz_runner` in envs/tflite214 (see mobile/envs.py). When the runtime cannot run
a variant (an op version newer than 2.14 knows), its own error line becomes the row's reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mobile import envs
from mobile.errors import BadInput
from pipeline.runtimes.base import RunOutput, Runtime


class TfliteRuntime(Runtime):
    name = "tflite-runtime"
    # tflite-runtime stopped at 2.14 and lacks op versions today's converter emits: a runtime too
    # old for the file is worth knowing, not a defect of the file
    advisory = True

    def run(self, path: Path, info, inputs: dict, latency_runs: int) -> RunOutput:
        with tempfile.TemporaryDirectory(prefix="tflite-runtime-") as tmp:
            request, outputs = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
            np.savez(request, **{k: _storable(v) for k, v in inputs.items()})
            args = [str(path), str(request), str(outputs), "--runtime", self.name]
            args += ["--latency-runs", str(latency_runs)]
            try:
                proc = envs.run(self.name, "mobile.npz_runner", args, capture=True)
            except BadInput as exc:  # the environment is missing
                raise RuntimeError(str(exc)) from None
            if proc.returncode != 0:
                lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
                raise RuntimeError(lines[-1] if lines else f"exited {proc.returncode}")
            with np.load(outputs) as f:
                values = {t.name: f[t.name].astype(np.float32) for t in info.outputs}
                return RunOutput(values, float(f["p50_ms"]), float(f["p99_ms"]))


def _storable(values: np.ndarray) -> np.ndarray:
    """Strings as numpy bytes: an npz holds them without pickling, and TFLite takes bytes."""
    if values.dtype != object:
        return values
    encoded = [v.encode() if isinstance(v, str) else bytes(v) for v in values.flat]
    return np.array(encoded, dtype=bytes).reshape(values.shape)
