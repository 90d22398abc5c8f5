"""Prometheus metrics in TF Serving's names and format, when --monitoring_config_file enables them.

TF Serving turns its metric paths into names with ':' (`/tensorflow/serving/request_count` is
`:tensorflow:serving:request_count`), writes `# TYPE` lines but no `# HELP`, and measures
latency in microseconds with exponential buckets (10 µs x 1.8^i, 33 of them). prometheus_client
would rename counters to `..._total` and print bucket limits differently, so the few lines of
the text format are written here to keep dashboards built for TF Serving working unchanged.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS_US = tuple(10 * 1.8**i for i in range(33))
BATCH_BUCKETS = tuple(float(2**i) for i in range(11))  # 1 .. 1024 examples
CONTENT_TYPE = "text/plain"

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"
LOAD_ATTEMPTS = ":tensorflow:cc:saved_model:load_attempt_count"
LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
# this server's own gauges (TF Serving has none of these): the request budget, serving/admission.py
BYTES_HELD = ":model_server:request_bytes_held"
BYTES_HELD_PEAK = ":model_server:request_bytes_held_peak"
REQUESTS_WAITING = ":model_server:requests_waiting_for_budget"


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, dict[tuple, _Histogram]] = defaultdict(dict)
        self._labels = {
            REQUEST_COUNT: ("model_name", "status"),
            REQUEST_LATENCY: ("model_name", "API", "entrypoint"),
            BATCH_SIZE: ("model_name",),
            LOAD_ATTEMPTS: ("model_path", "status"),
            LOAD_LATENCY: ("model_path",),
        }
        self._gauges: dict[str, Callable[[], float]] = {}
        self._bounds = {
            REQUEST_LATENCY: LATENCY_BUCKETS_US,
            BATCH_SIZE: BATCH_BUCKETS,
            LOAD_LATENCY: LATENCY_BUCKETS_US,
        }

    def _observe(self, name: str, labels: tuple, value: float) -> None:
        with self._lock:
            hist = self._histograms[name].get(labels)
            if hist is None:
                hist = self._histograms[name][labels] = _Histogram(self._bounds[name])
            hist.observe(value)

    def request(
        self, model: str, api: str, entrypoint: str, status: str, seconds: float | None = None
    ) -> None:
        """Every request is counted; latency is recorded for successful ones, as TF Serving does."""
        with self._lock:
            self._counters[REQUEST_COUNT][(model, status)] += 1
        if status == "OK" and seconds is not None:
            self._observe(REQUEST_LATENCY, (model, api, entrypoint), seconds * 1e6)

    def batch_size(self, model: str, size: int) -> None:
        self._observe(BATCH_SIZE, (model,), size)

    def load(self, path: str, seconds: float, ok: bool) -> None:
        with self._lock:
            self._counters[LOAD_ATTEMPTS][(path, "success" if ok else "fail")] += 1
        if ok:
            self._observe(LOAD_LATENCY, (path,), seconds * 1e6)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A value read when the metrics are rendered."""
        self._gauges[name] = read

    def render(self) -> bytes:
        lines = []
        for name, read in sorted(self._gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {read():g}"]
        with self._lock:
            names = sorted({*self._counters, *self._histograms})
            for name in names:
                keys = self._labels[name]
                if name in self._counters:
                    lines.append(f"# TYPE {name} counter")
                    for labels, value in sorted(self._counters[name].items()):
                        lines.append(f"{name}{{{_pairs(keys, labels)}}} {value:g}")
                    continue
                lines.append(f"# TYPE {name} histogram")
                for labels, hist in sorted(self._histograms[name].items()):
                    pairs = _pairs(keys, labels)
                    total = 0
                    for bound, count in zip((*hist.bounds, None), hist.counts, strict=True):
                        total += count
                        le = "+Inf" if bound is None else f"{bound:.6g}"
                        lines.append(f'{name}_bucket{{{pairs},le="{le}"}} {total}')
                    lines.append(f"{name}_sum{{{pairs}}} {hist.sum:.6g}")
                    lines.append(f"{name}_count{{{pairs}}} {total}")
        return ("\n".join(lines) + "\n").encode()


def _pairs(keys: tuple[str, ...], values: tuple) -> str:
    return ",".join(f'{k}="{_escape(str(v))}"' for k, v in zip(keys, values, strict=True))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
