"""TF.js: the graph model run by @tensorflow/tfjs (cpu backend) in a Node process."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pipeline.config import TFJS_NODE_DIR
from pipeline.runtimes.base import RunOutput, Runtime

SCRIPT = TFJS_NODE_DIR / "predict.mjs"


class TfjsNodeRuntime(Runtime):
    name = "tfjs-node"

    def run(self, path: Path, info, inputs: dict, latency_runs: int) -> RunOutput:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: run make setup")
        if not (TFJS_NODE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
            raise RuntimeError(f"@tensorflow/tfjs missing in {TFJS_NODE_DIR}: run make setup")
        with tempfile.TemporaryDirectory(prefix="tfjs-node-") as tmp:
            work = Path(tmp)
            request = {
                "model_dir": str(path),
                "inputs": [_write_input(work, i, k, v) for i, (k, v) in enumerate(inputs.items())],
                "outputs": [t.name for t in info.outputs],
                "output_dir": str(work),
                "result": str(work / "result.json"),
                "latency_runs": latency_runs,
            }
            (work / "request.json").write_text(json.dumps(request))
            proc = subprocess.run(
                [node, str(SCRIPT), str(work / "request.json")],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode != 0:
                lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
                raise RuntimeError(lines[-1] if lines else f"node exited {proc.returncode}")
            result = json.loads((work / "result.json").read_text())
            outputs = {
                t.name: np.fromfile(work / f"{i}.f32", dtype="<f4").reshape(shape)
                for i, (t, shape) in enumerate(zip(info.outputs, result["shapes"], strict=True))
            }
        return RunOutput(outputs, result["p50_ms"], result["p99_ms"])


def _write_input(work: Path, index: int, name: str, values: np.ndarray) -> dict:
    """One input as the Node side reads it: TF.js has float32, int32 and string tensors (the
    converter stores int64 as int32), so integers go as int32 and strings as a JSON array."""
    file = work / f"input-{index}"
    if values.dtype == object or values.dtype.kind in "SU":
        texts = [v.decode() if isinstance(v, bytes) else str(v) for v in values.flat]
        file.write_text(json.dumps(texts))
        dtype = "string"
    elif values.dtype.kind in "iub":
        values.astype("<i4").tofile(file)
        dtype = "int32"
    else:
        values.astype("<f4").tofile(file)
        dtype = "float32"
    return {"name": name, "dtype": dtype, "shape": list(values.shape), "file": str(file)}
