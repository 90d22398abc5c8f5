"""Verify: every artifact, in its own runtime, against the Keras reference on the golden set.

python -m pipeline verify --name digits
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline import artifacts
from pipeline.config import Gate
from pipeline.convert.base import one_line
from pipeline.data import Golden
from pipeline.layout import Layout
from pipeline.metadata import ModelInfo, size_of
from pipeline.runtimes import RUNTIMES, Runtime
from pipeline.targets import TARGETS, Target


@dataclass
class Verification:
    """One row of the verification table: a target run in one runtime, against its gate."""

    target: str
    runtime: str
    where: str = "host"
    accuracy: float | None = None
    top1_agreement: float | None = None
    max_abs_diff: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    bytes: int = 0
    passed: bool = False
    reason: str = ""
    gate: str = ""  # the gate, described
    gating: bool = True  # False: a failure here is reported but blocks nothing (Runtime.advisory)

    def to_dict(self) -> dict:
        doc = asdict(self)
        for key in ("accuracy", "top1_agreement", "max_abs_diff", "p50_ms", "p99_ms"):
            if doc[key] is not None:
                doc[key] = float(f"{doc[key]:.6g}")
        return doc


def score(outputs: np.ndarray, golden: Golden, gate: Gate) -> tuple[dict, list[str]]:
    """Accuracy, agreement and max |Δ| against the reference, and which gate checks failed."""
    ref = golden.reference
    if outputs.shape != ref.shape:
        return {}, [f"output shape {list(outputs.shape)} != reference {list(ref.shape)}"]
    metrics = {"max_abs_diff": float(np.max(np.abs(outputs - ref)))}
    classification = ref.ndim == 2 and ref.shape[1] > 1
    if classification:
        metrics["top1_agreement"] = float(np.mean(outputs.argmax(1) == ref.argmax(1)))
        if golden.labels is not None:
            metrics["accuracy"] = float(np.mean(outputs.argmax(1) == golden.labels))
    failures = []
    if not np.all(np.isfinite(outputs)):
        failures.append("non-finite outputs")
    if gate.max_abs_diff is not None and metrics["max_abs_diff"] > gate.max_abs_diff:
        failures.append(f"max|Δ| {metrics['max_abs_diff']:.3g} > {gate.max_abs_diff:g}")
    agreement = metrics.get("top1_agreement")
    if gate.min_agreement is not None and agreement is not None and agreement < gate.min_agreement:
        failures.append(f"top-1 agreement {agreement:.1%} < {gate.min_agreement:.0%}")
    if gate.max_accuracy_drop is not None and "accuracy" in metrics:
        ref_acc = float(np.mean(ref.argmax(1) == golden.labels))
        drop = ref_acc - metrics["accuracy"]
        if drop > gate.max_accuracy_drop:
            failures.append(f"accuracy {drop * 100:.1f} pts below Keras")
    return metrics, failures


def verify_artifact(
    target: Target,
    path: Path,
    runtime: Runtime,
    info: ModelInfo,
    golden: Golden,
    gate: Gate,
    latency_runs: int,
) -> Verification:
    """One row of the verification table; any failure becomes the row's reason, never a crash."""
    row = Verification(target.name, runtime.name, runtime.where, gate=gate.describe())
    if not path.exists():
        row.reason = f"missing: {path}"
        return row
    row.bytes = size_of(path)
    record = artifacts.recorded(target, path)
    if record is None:
        row.reason = "no metadata.json entry: artifact was not built by the pipeline"
        return row
    if artifacts.digest(target, path) != record["sha256"]:
        row.reason = "sha256 differs from metadata.json: the artifact changed after it was built"
        return row
    try:
        result = runtime.run(path, info, golden.x, latency_runs)
    except Exception as exc:
        row.reason = f"{runtime.name} could not run it: {one_line(exc)}"
        row.gating = not runtime.advisory
        return row
    metrics, failures = score(result.outputs, golden, gate)
    row.accuracy = metrics.get("accuracy")
    row.top1_agreement = metrics.get("top1_agreement")
    row.max_abs_diff = metrics.get("max_abs_diff")
    row.p50_ms, row.p99_ms = result.p50_ms, result.p99_ms
    row.passed = not failures
    row.reason = "; ".join(failures)
    return row


def verify_all(
    layout: Layout,
    version: int,
    info: ModelInfo,
    golden: Golden,
    gates: dict[str, Gate],
    targets: list[str],
    latency_runs: int,
    on_row=None,
) -> list[Verification]:
    """Every runtime of every named target; `gates` overrides a target's default gate."""
    rows = []
    for name in targets:
        target = TARGETS[name]
        path = target.path(layout, version)
        gate = gates.get(name, target.gate)
        for runtime_name in target.runtimes:
            row = verify_artifact(
                target, path, RUNTIMES[runtime_name], info, golden, gate, latency_runs
            )
            rows.append(row)
            if on_row:
                on_row(row)
    return rows
