"""Latency and throughput of one model in one runtime, in the spirit of TFLite's benchmark_model.

Like benchmark_model it reports the time to load the model, the first inference (which allocates
and prepares every op), then warm-up runs that are not counted and timed runs whose percentiles
are. Unlike it, each call goes through TfliteModel, so quantizing the inputs and dequantizing
the outputs of an int8 model is included: that is what a caller of this runtime pays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mobile import flatbuffer
from mobile.runtime import TfliteModel, interpreter_class, resolve, version_of


@dataclass
class BenchResult:
    model: str
    runtime: str
    runtime_version: str
    threads: int
    batch: int
    runs: int
    warmup: int
    init_ms: float
    first_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput: float  # samples per second over the timed runs

    def to_dict(self) -> dict:
        return asdict(self)


def time_calls(
    call: Callable[[np.ndarray], object], inputs: list[np.ndarray], runs: int
) -> np.ndarray:
    """Milliseconds of `runs` calls, cycling through `inputs`."""
    times = np.empty(runs)
    for i in range(runs):
        x = inputs[i % len(inputs)]
        start = time.perf_counter()
        call(x)
        times[i] = time.perf_counter() - start
    return times * 1e3


def single_sample_latency(call, x, runs: int) -> tuple[float, float]:
    """p50 and p99 (ms) of one-sample calls on the first `runs` samples, after one warm-up call.

    `x` is one array, or a dict of arrays by input name (a model with several inputs).
    """
    n = len(next(iter(x.values())) if isinstance(x, dict) else x)
    samples = [_sample(x, i) for i in range(min(n, runs))]
    call(samples[0])
    times = time_calls(call, samples, runs)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def _sample(x, i: int):
    if isinstance(x, dict):
        return {k: v[i : i + 1] for k, v in x.items()}
    return x[i : i + 1]


def sample_inputs(model: TfliteModel, batch: int, seed: int = 0) -> np.ndarray:
    """Uniform values in [0, 1] for the model's single input, `batch` samples (the digits range)."""
    shape = tuple(
        batch if i == 0 else (1 if d == -1 else d) for i, d in enumerate(model.input.shape)
    )
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _preload(runtime: str) -> None:
    flatbuffer.load_schema()
    interpreter_class(resolve(runtime))


def benchmark(
    path: Path,
    runtime: str = "auto",
    threads: int = 1,
    batch: int = 1,
    runs: int = 200,
    warmup: int = 10,
    x: np.ndarray | None = None,
) -> BenchResult:
    _preload(runtime)
    start = time.perf_counter()  # load time, as benchmark_model's init: imports excluded
    model = TfliteModel(path, runtime, threads)
    init_ms = (time.perf_counter() - start) * 1e3
    if x is None:
        x = sample_inputs(model, batch)
    batches = [np.resize(x, (batch, *x.shape[1:]))]  # repeat or cut the samples to the batch
    start = time.perf_counter()
    model(batches[0])
    first_ms = (time.perf_counter() - start) * 1e3
    time_calls(model, batches, warmup)
    times = time_calls(model, batches, runs)
    return BenchResult(
        model=str(path),
        runtime=model.runtime,
        runtime_version=version_of(model.runtime),
        threads=threads,
        batch=batch,
        runs=runs,
        warmup=warmup,
        init_ms=init_ms,
        first_ms=first_ms,
        p50_ms=float(np.percentile(times, 50)),
        p90_ms=float(np.percentile(times, 90)),
        p99_ms=float(np.percentile(times, 99)),
        mean_ms=float(times.mean()),
        throughput=batch * runs / (times.sum() / 1e3),
    )
