"""TF.js: a graph model converted from the SavedModel, in the converter's own environment.

tensorflowjs pins an older TensorFlow than ours (see envs/tfjs/pyproject.toml), so its converter
runs as a subprocess of envs/tfjs/.venv. Keras 3 models convert reliably through the SavedModel.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.config import SERVING_SIGNATURE, TFJS_PYTHON
from pipeline.convert.base import ConversionError, ConvertContext, Converter


class TfjsConverter(Converter):
    def __init__(self, quantize: str | None = None):
        self.quantize = quantize  # "uint8" or "float16" weights, or None for fp32

    def convert(self, ctx: ConvertContext, out: Path) -> None:
        if not TFJS_PYTHON.exists():
            raise ConversionError(
                f"TF.js converter environment missing ({TFJS_PYTHON}): run make setup"
            )
        cmd = [
            str(TFJS_PYTHON),
            "-m",
            "tensorflowjs.converters.converter",
            "--input_format=tf_saved_model",
            "--output_format=tfjs_graph_model",
            f"--signature_name={SERVING_SIGNATURE}",
            "--saved_model_tags=serve",
            # keep TF2 control flow (While): the v1 form an RNN's loop is lowered to otherwise
            # cannot be executed by tfjs ("Cannot compute the outputs", tensorflow/tfjs#4579)
            "--control_flow_v2=true",
        ]
        if self.quantize:
            cmd.append(f"--quantize_{self.quantize}=*")
        out.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [*cmd, str(ctx.savedmodel), str(out)],
            capture_output=True,
            text=True,
            env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
        )
        if proc.returncode != 0 or not (out / "model.json").is_file():
            raise ConversionError(_last_error(proc.stderr) or f"exit code {proc.returncode}")


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error:" in ln]
    return (errors or lines or [""])[-1]
