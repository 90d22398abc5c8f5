"""Can a runtime run this model? Decided by loading and invoking it there; the reason in its words.

A runtime that is not installed in this Python is asked in its own environment (mobile/envs.py):
the same check runs there as `python -m mobile check … --json` and reports back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mobile import envs, flatbuffer
from mobile.errors import BadInput, CannotRun
from mobile.runtime import TfliteModel, installed, resolve, version_of


@dataclass
class CheckResult:
    model: str
    runtime: str
    runtime_version: str
    where: str  # "host", or the environment that ran it
    ok: bool
    reason: str = ""  # the runtime's own text when it cannot run the model
    flex_ops: list[str] = field(default_factory=list)  # Select TensorFlow ops the model needs
    custom_ops: list[str] = field(default_factory=list)
    min_runtime_version: str | None = None  # what the converter says the model needs

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def summary(self) -> str:
        """One line: what a table cell or a verification row says."""
        if self.ok:
            return f"{self.runtime} {self.runtime_version} runs it"
        return f"{self.runtime} {self.runtime_version} cannot run it: " + " ".join(
            self.reason.splitlines()
        )


def check_here(path: Path, runtime: str) -> CheckResult:
    """Load the model in `runtime`, in this process, and invoke it once on zeros."""
    runtime = resolve(runtime)
    model_file = flatbuffer.read(Path(path))  # a foreign or truncated file is bad input, not "no"
    result = CheckResult(str(path), runtime, version_of(runtime), "host", ok=False)
    if model_file is not None:
        result.flex_ops = model_file.flex_ops
        result.custom_ops = model_file.custom_ops
        result.min_runtime_version = model_file.min_runtime_version
    try:
        TfliteModel(path, runtime).warm_up()
    except CannotRun as exc:
        result.reason = str(exc)
        return result
    result.ok = True
    return result


def check(path: Path, runtime: str) -> CheckResult:
    """check_here where the runtime is installed, else in the runtime's own environment."""
    runtime = resolve(runtime)
    if installed(runtime):
        return check_here(path, runtime)
    flatbuffer.check_file(Path(path))  # missing or foreign: say so here, in one line
    proc = envs.run(
        runtime,
        "mobile",
        ["check", str(path), "--runtime", runtime, "--json"],
        capture=True,
    )
    if proc.returncode < 0:  # the runtime crashed the process: that is a "cannot run" too
        reason = f"the {runtime} process died with signal {-proc.returncode}"
        return CheckResult(str(path), runtime, "?", envs.where(runtime), False, reason)
    try:
        result = CheckResult(**json.loads(proc.stdout))
    except (json.JSONDecodeError, TypeError):
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise BadInput(
            lines[-1].removeprefix("error: ") if lines else f"exit {proc.returncode}"
        ) from None
    result.where = envs.where(runtime)
    return result
