"""TF.js: graph models converted from the SavedModel, in the converter's own environment.

tensorflowjs pins an older TensorFlow than ours (see envs/tfjs/pyproject.toml), so its converter
runs as a subprocess of envs/tfjs/.venv. Keras 3 models convert reliably through the SavedModel.
Importing the converter is most of its time, so the first variant asked for converts every
variant of that SavedModel in one process (tfjs_batch.py) and each variant takes its own copy.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipeline.config import SERVING_SIGNATURE, TFJS_PYTHON
from pipeline.convert.base import ConversionError, ConvertContext, Converter

BATCH_SCRIPT = Path(__file__).with_name("tfjs_batch.py")
COMMON_FLAGS = [
    "--input_format=tf_saved_model",
    "--output_format=tfjs_graph_model",
    f"--signature_name={SERVING_SIGNATURE}",
    "--saved_model_tags=serve",
    # keep TF2 control flow (While): the v1 form an RNN's loop is lowered to otherwise cannot be
    # executed by tfjs ("Cannot compute the outputs", tensorflow/tfjs#4579)
    "--control_flow_v2=true",
]
_converted: dict[Path, dict[str | None, tuple[Path, str]]] = {}  # per SavedModel, this process
_variants: list[str | None] = []  # every TF.js variant the table of targets makes


class TfjsConverter(Converter):
    def __init__(self, quantize: str | None = None):
        self.quantize = quantize  # "uint8" or "float16" weights, or None for fp32
        _variants.append(quantize)

    def convert(self, ctx: ConvertContext, out: Path) -> str | None:
        if not TFJS_PYTHON.exists():
            raise ConversionError(
                f"TF.js converter environment missing ({TFJS_PYTHON}): run make setup"
            )
        done = _converted.get(ctx.savedmodel, {})
        shared = self.quantize in done
        if not shared:
            done = _converted[ctx.savedmodel] = _convert_all(ctx.savedmodel, {self.quantize})
        made, error = done[self.quantize]
        if error:
            raise ConversionError(error)
        shutil.copytree(made, out, dirs_exist_ok=True)
        return "made in the first TF.js variant's converter process" if shared else None


def _convert_all(savedmodel: Path, wanted: set) -> dict[str | None, tuple[Path, str]]:
    """Every known variant (and `wanted`) in one converter process, into a scratch folder."""
    scratch = Path(tempfile.mkdtemp(prefix="tfjs-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    variants = list(dict.fromkeys([*_variants, *wanted]))
    jobs = [
        {
            "flags": [f"--quantize_{q}=*"] if q else [],
            "out": str(scratch / (q or "fp32")),
        }
        for q in variants
    ]
    request = {"savedmodel": str(savedmodel), "common": COMMON_FLAGS, "jobs": jobs}
    (scratch / "request.json").write_text(json.dumps(request))
    proc = subprocess.run(
        [
            str(TFJS_PYTHON),
            str(BATCH_SCRIPT),
            str(scratch / "request.json"),
            str(scratch / "result.json"),
        ],
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode != 0 or not (scratch / "result.json").is_file():
        reason = _last_error(proc.stderr) or f"exit code {proc.returncode}"
        return {q: (scratch, reason) for q in variants}
    results = json.loads((scratch / "result.json").read_text())["results"]
    done = {}
    for q, result in zip(variants, results, strict=True):
        made = Path(result["out"])
        error = result["error"]
        if not error and not (made / "model.json").is_file():
            error = "the converter wrote no model.json"
        done[q] = (made, error)
    return done


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error:" in ln]
    return (errors or lines or [""])[-1]
