"""The runtime contract: run an artifact on a batch of named inputs and time single-sample calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobile.bench import single_sample_latency
from pipeline.metadata import ModelInfo

BATCH = 256  # inputs per call when computing the outputs for the whole golden set

Arrays = dict[str, np.ndarray]  # one array per signature input or output, by name


@dataclass
class RunOutput:
    outputs: Arrays  # float32 [N, ...] per output, dequantized where the artifact is quantized
    p50_ms: float  # median single-sample latency, after a warm-up call
    p99_ms: float


class Runtime:
    name: str
    where: str = "host"
    # Checked for compatibility, not as the artifact's proof: when it cannot load or run an
    # artifact, the row records why but blocks nothing (see TfliteRuntime). When it runs the
    # artifact and misses the gate, that blocks: the same file answering differently is a defect.
    advisory: bool = False

    def run(self, path: Path, info: ModelInfo, inputs: Arrays, latency_runs: int) -> RunOutput:
        raise NotImplementedError


class InProcessRuntime(Runtime):
    """A runtime living in this Python process: subclasses only load a predict function."""

    def load(self, path: Path, info: ModelInfo) -> Callable[[Arrays], Arrays]:
        raise NotImplementedError

    def run(self, path: Path, info: ModelInfo, inputs: Arrays, latency_runs: int) -> RunOutput:
        predict = self.load(path, info)
        return RunOutput(
            in_batches(predict, inputs), *time_single_calls(predict, inputs, latency_runs)
        )


def in_batches(predict: Callable[[Arrays], Arrays], inputs: Arrays) -> Arrays:
    """Every output for every input, BATCH samples per call, as float32."""
    n = len(next(iter(inputs.values())))
    parts = [predict({k: v[i : i + BATCH] for k, v in inputs.items()}) for i in range(0, n, BATCH)]
    return {k: np.concatenate([p[k] for p in parts]).astype(np.float32) for k in parts[0]}


def time_single_calls(predict, inputs: Arrays, runs: int) -> tuple[float, float]:
    """p50 and p99 in ms of `runs` one-sample calls, cycling through the inputs.

    The edge runtime's own measure (mobile/bench.py), so rows from every runtime, in this process
    or in another environment, are timed the same way.
    """
    return single_sample_latency(predict, inputs, runs)
