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
    supported: bool = True  # False: the runtime could not load or run the artifact (its words)
    ties: int | None = None  # golden samples whose reference top-2 were nearly tied

    def to_dict(self) -> dict:
        doc = asdict(self)
        for key in ("accuracy", "top1_agreement", "max_abs_diff", "p50_ms", "p99_ms"):
            if doc[key] is not None:
                doc[key] = float(f"{doc[key]:.6g}")
        return doc


def score(outputs: dict[str, np.ndarray], golden: Golden, gate: Gate) -> tuple[dict, list[str]]:
    """Accuracy, agreement and max |Δ| against the reference, and which gate checks failed.

    Each output is scored on its own; the row keeps the worst of each figure (largest |Δ|, lowest
    agreement and accuracy), and a failure names its output when the model has several.
    """
    metrics: dict = {}
    failures: list[str] = []
    several = len(golden.reference) > 1
    for name, ref in golden.reference.items():
        if name not in outputs:
            failures.append(f"no output {name!r} (got {sorted(outputs)})")
            continue
        found, failed = score_output(outputs[name], ref, golden.labels.get(name), gate)
        failures += [f"{name}: {f}" if several else f for f in failed]
        for key, value in found.items():
            if key not in metrics:
                metrics[key] = value
            elif key in ("max_abs_diff", "regression_error"):
                metrics[key] = max(metrics[key], value)
            elif key == "ties":
                metrics[key] += value
            elif key in ("top1_agreement", "accuracy"):
                metrics[key] = min(metrics[key], value)
    return metrics, failures


def score_output(
    outputs: np.ndarray, ref: np.ndarray, labels: np.ndarray | None, gate: Gate
) -> tuple[dict, list[str]]:
    """One output against its reference: classification (probabilities or logits, more than one
    column) gets agreement and accuracy, anything else the regression error."""
    if outputs.shape != ref.shape:
        return {}, [f"output shape {list(outputs.shape)} != reference {list(ref.shape)}"]
    diff = np.abs(outputs.astype(np.float64) - ref)
    metrics = {"max_abs_diff": float(np.max(diff, initial=0.0))}
    failures = []
    if not np.all(np.isfinite(outputs)):
        failures.append("non-finite outputs")
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    if gate.max_abs_diff is not None and metrics["max_abs_diff"] / scale > gate.max_abs_diff:
        relative = "" if scale == 1.0 else f" of a {scale:.3g} scale"
        failures.append(f"max|Δ| {metrics['max_abs_diff']:.3g}{relative} > {gate.max_abs_diff:g}")
    if ref.ndim == 2 and ref.shape[1] > 1:
        metrics.update(_classification(outputs, ref, labels, gate.tie_margin))
        failures += _classification_failures(metrics, gate)
    elif gate.max_regression_error is not None and len(ref):
        spread = float(np.max(ref) - np.min(ref)) or 1.0
        error = metrics["max_abs_diff"] / spread
        metrics["regression_error"] = error
        if error > gate.max_regression_error:
            failures.append(
                f"regression |Δ| {error:.1%} of the range > {gate.max_regression_error:.0%}"
            )
    return metrics, failures


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """Rows as probabilities: as they are when they already are, else a softmax of the logits."""
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _classification(outputs, ref, labels, tie_margin: float) -> dict:
    """Top-1 agreement where a tied reference accepts either of its top two classes."""
    ranked = np.argsort(ref, axis=1)
    first, second = ranked[:, -1], ranked[:, -2]
    top2 = np.sort(_probabilities(ref), axis=1)[:, -2:]
    tied = (top2[:, 1] - top2[:, 0]) < tie_margin
    chosen = outputs.argmax(1)
    agrees = (chosen == first) | (tied & (chosen == second))
    metrics = {"top1_agreement": float(np.mean(agrees)), "ties": int(np.sum(tied))}
    if labels is not None:
        metrics["accuracy"] = float(np.mean(chosen == labels))
        metrics["reference_accuracy"] = float(np.mean(first == labels))
    return metrics


def _classification_failures(metrics: dict, gate: Gate) -> list[str]:
    failures = []
    agreement = metrics["top1_agreement"]
    if gate.min_agreement is not None and agreement < gate.min_agreement:
        ties = f" ({metrics['ties']} tied references count either class)" if metrics["ties"] else ""
        failures.append(f"top-1 agreement {agreement:.1%} < {gate.min_agreement:.0%}{ties}")
    if gate.max_accuracy_drop is not None and "accuracy" in metrics:
        drop = metrics["reference_accuracy"] - metrics["accuracy"]
        if drop > gate.max_accuracy_drop:
            failures.append(f"accuracy {drop * 100:.1f} pts below Keras")
    return failures


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
        result = runtime.run(path, info, golden.inputs, latency_runs)
    except Exception as exc:
        row.reason = f"{runtime.name} could not run it: {one_line(exc)}"
        row.gating = not runtime.advisory
        row.supported = False
        return row
    metrics, failures = score(result.outputs, golden, gate)
    row.accuracy = metrics.get("accuracy")
    row.top1_agreement = metrics.get("top1_agreement")
    row.max_abs_diff = metrics.get("max_abs_diff")
    row.ties = metrics.get("ties")
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
