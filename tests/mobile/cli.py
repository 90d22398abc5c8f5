"""Run `python -m mobile …` as a user would, in the main environment or in envs/tflite214."""

from __future__ import annotations

import os
import subprocess
import sys

from mobile.envs import PYTHONS, ROOT

TFLITE214_PYTHON = PYTHONS["tflite-runtime"]


def run_cli(*args, python=sys.executable, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "mobile", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The one stderr line of a failed command; nothing on stdout, no traceback."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    return lines[0]
