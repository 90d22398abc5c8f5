"""The runtime contract: run an artifact on a batch of inputs and time single-sample calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobile.bench import single_sample_latency
from pipeline.metadata import ModelInfo

BATCH = 256  # inputs per call when computing the outputs for the whole golden set


@dataclass
class RunOutput:
    outputs: np.ndarray  # float32 [N, ...], dequantized where the artifact is quantized
    p50_ms: float  # median single-sample latency, after a warm-up call
    p99_ms: float


class Runtime:
    name: str
    where: str = "host"
    # Checked for compatibility, not as the artifact's proof: when it cannot load or run an
    # artifact, the row records why but blocks nothing (see TfliteRuntime). When it runs the
    # artifact and misses the gate, that blocks: the same file answering differently is a defect.
    advisory: bool = False

    def run(self, path: Path, info: ModelInfo, x: np.ndarray, latency_runs: int) -> RunOutput:
        raise NotImplementedError


class InProcessRuntime(Runtime):
    """A runtime living in this Python process: subclasses only load a predict function."""

    def load(self, path: Path, info: ModelInfo) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def run(self, path: Path, info: ModelInfo, x: np.ndarray, latency_runs: int) -> RunOutput:
        predict = self.load(path, info)
        outputs = np.concatenate([predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
        p50, p99 = time_single_calls(predict, x, latency_runs)
        return RunOutput(outputs.astype(np.float32), p50, p99)


def time_single_calls(predict, x: np.ndarray, runs: int) -> tuple[float, float]:
    """p50 and p99 in ms of `runs` one-sample calls, cycling through the inputs.

    The edge runtime's own measure (mobile/bench.py), so rows from every runtime, in this process
    or in another environment, are timed the same way.
    """
    return single_sample_latency(predict, x, runs)
