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

    def run(self, path: Path, info, x: np.ndarray, latency_runs: int) -> RunOutput:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: run make setup")
        if not (TFJS_NODE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
            raise RuntimeError(f"@tensorflow/tfjs missing in {TFJS_NODE_DIR}: run make setup")
        with tempfile.TemporaryDirectory(prefix="tfjs-node-") as tmp:
            work = Path(tmp)
            x.astype("<f4").tofile(work / "input.f32")
            request = {
                "model_dir": str(path),
                "input": str(work / "input.f32"),
                "shape": list(x.shape),
                "output": str(work / "output.f32"),
                "result": str(work / "result.json"),
                "output_name": info.output_name,
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
            outputs = np.fromfile(work / "output.f32", dtype="<f4").reshape(result["shape"])
        return RunOutput(outputs, result["p50_ms"], result["p99_ms"])
