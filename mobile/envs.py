"""The tflite-runtime environment (envs/tflite214): run `python -m mobile …` there as a subprocess.

tflite-runtime stops at 2.14 and needs numpy < 2, so it cannot share an environment with
TensorFlow 2.21 and LiteRT. The mobile package is pure Python and runs there unchanged, with the
project root on PYTHONPATH; `make setup` builds the environment from envs/tflite214/uv.lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mobile.errors import BadInput

ROOT = Path(__file__).resolve().parents[1]
# One environment per runtime that cannot live in this one; MOBILE_TFLITE_RUNTIME_PYTHON points
# elsewhere (a container's interpreter, say).
PYTHONS = {
    "tflite-runtime": Path(
        os.environ.get(
            "MOBILE_TFLITE_RUNTIME_PYTHON", ROOT / "envs" / "tflite214" / ".venv" / "bin" / "python"
        )
    )
}


def where(runtime: str) -> str:
    """How a row or a report names the environment: the venv folder relative to the project."""
    python = PYTHONS[runtime]
    try:
        return python.parents[2].relative_to(ROOT).as_posix()
    except ValueError:
        return str(python.parents[2])


def python_for(runtime: str) -> Path:
    python = PYTHONS.get(runtime)
    if python is None:
        raise BadInput(f"{runtime} is not installed here ({sys.executable})")
    if not python.is_file():
        raise BadInput(f"{runtime} is not installed here and {python} is missing: run `make setup`")
    return python


def run(runtime: str, module: str, args: list[str], capture: bool, timeout: float = 600):
    """`python -m module args…` in the runtime's environment (relative paths stay valid)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [str(python_for(runtime)), "-m", module, *args],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=capture,
        text=True,
        timeout=timeout,
    )
