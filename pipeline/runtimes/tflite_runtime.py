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

    def run(self, path: Path, info, x: np.ndarray, latency_runs: int) -> RunOutput:
        with tempfile.TemporaryDirectory(prefix="tflite-runtime-") as tmp:
            inputs, outputs = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
            np.savez(inputs, **{info.input_name: x})
            args = [str(path), str(inputs), str(outputs), "--runtime", self.name]
            args += ["--latency-runs", str(latency_runs)]
            try:
                proc = envs.run(self.name, "mobile.npz_runner", args, capture=True)
            except BadInput as exc:  # the environment is missing
                raise RuntimeError(str(exc)) from None
            if proc.returncode != 0:
                lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
                raise RuntimeError(lines[-1] if lines else f"exited {proc.returncode}")
            with np.load(outputs) as f:
                return RunOutput(
                    f[info.output_name].astype(np.float32), float(f["p50_ms"]), float(f["p99_ms"])
                )
