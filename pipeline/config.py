"""One source of configuration: project paths, defaults and verification gates."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.cluster import Cluster

ROOT = Path(__file__).resolve().parents[1]

# Where artifacts go; MODELS_DIR lets tests and containers point the whole pipeline elsewhere.
MODELS_DIR = Path(os.environ.get("MODELS_DIR", ROOT / "models"))
# The TF.js converter runs in its own environment (its pins clash with the main TensorFlow).
TFJS_PYTHON = ROOT / "envs" / "tfjs" / ".venv" / "bin" / "python"
# Node side of verification: @tensorflow/tfjs runs the graph model there.
TFJS_NODE_DIR = ROOT / "pipeline" / "tfjs_node"

DEFAULT_NAME = "digits"
SERVING_SIGNATURE = "serving_default"
IMAGE_SIGNATURE = "predict_image"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"

CALIBRATION_SAMPLES = 200  # training inputs kept for int8 ranges (TFLite suggests 100-500)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42  # one seed for the split, weight init and shuffling
    val_fraction: float = 0.15  # of all samples, stratified
    test_fraction: float = 0.15  # held out: the golden set every runtime is verified on
    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_size: int = 32
    learning_rate: float = 2e-3
    patience: int = 10  # epochs without val-loss improvement before early stopping
    min_accuracy: float = 0.97  # the bar a trained model must reach on the test split


@dataclass(frozen=True)
class Gate:
    """What an artifact must achieve against the Keras reference on the golden set.

    Each check applies where it means something: agreement and accuracy to classification outputs
    (more than one column, probabilities or logits), the relative error to regression outputs.
    """

    # largest |output - reference| over the reference's scale, max(1, max |reference|): for
    # probabilities that is the plain absolute difference, for large regression values a relative one
    max_abs_diff: float | None = None
    min_agreement: float | None = None  # share of samples whose top-1 class equals Keras's
    max_accuracy_drop: float | None = None  # accuracy points (0..1) below Keras's, when labelled
    # regression outputs: largest |output - reference| over the reference's range (max - min)
    max_regression_error: float | None = None
    # a sample whose reference top-2 probabilities are closer than this is a tie: either of the two
    # classes agrees with it (a quantized model must not fail on a coin the reference tossed)
    tie_margin: float = 0.02

    def describe(self) -> str:
        parts = []
        if self.max_abs_diff is not None:
            parts.append(f"max|Δ|≤{self.max_abs_diff:g}")
        if self.min_agreement is not None:
            parts.append(f"top-1 agree≥{self.min_agreement:.0%}")
        if self.max_accuracy_drop is not None:
            parts.append(f"acc drop≤{self.max_accuracy_drop * 100:g} pts")
        if self.max_regression_error is not None:
            parts.append(f"regression |Δ|≤{self.max_regression_error:.0%} of range")
        return ", ".join(parts) or "none"


GATE_CHECKS = tuple(Gate.__dataclass_fields__)

# The default gates (pipeline/targets.py gives each target one). Float artifacts must reproduce
# Keras almost exactly; fp16 weights keep about three decimal digits; quantized artifacts must keep
# its decisions, and its regression values within 5% of their range.
EXACT = Gate(max_abs_diff=1e-4)
HALF_PRECISION = Gate(max_abs_diff=1e-2)
QUANTIZED = Gate(min_agreement=0.97, max_accuracy_drop=0.02, max_regression_error=0.05)


@dataclass(frozen=True)
class PipelineConfig:
    name: str = DEFAULT_NAME
    models_dir: Path = MODELS_DIR
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: str = "keras"  # which trainer's model is exported: "keras" or "tf"
    compare_trainers: bool = True  # also train with the other trainer, for the report
    keep_versions: int = 5  # SavedModel versions kept under models/serving/<name>/
    latency_runs: int = 100  # single-sample calls timed per runtime for p50
    # targets that must be verified for a version to be published, beside keras and savedmodel
    # (--require; --strict requires every target); the others are published when verified
    required: frozenset[str] = frozenset()
    gates: dict[str, Gate] = field(default_factory=dict)  # per-target overrides of the defaults
    # the workers of a distributed training job and this process's index, from TF_CONFIG
    cluster: Cluster | None = None
