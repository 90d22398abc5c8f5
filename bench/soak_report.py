"""bench-soak's report: what a run recorded, in windows of time, as tables and a verdict.

Used by bench/soak.py; its tests: python -m pytest tests/bench -q
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

from bench.table import Column, Table, targets
from pipeline import ui


@dataclass
class Run:
    """What one soak recorded; times are seconds since the load started."""

    lines: list[dict]  # the load's per-second lines
    rss: list[tuple[float, float]]  # (time, MiB)
    events: list[tuple[float, str]]  # (time, kind): published, removed, written and LOG_EVENTS
    server_counts: Counter  # the server's request_count over the run, by status
    sent: int  # requests the load sent, its two connection checks included
    published: list[int]
    removed: list[int]
    settle_s: float | None  # from the end of the load until the newest version was AVAILABLE
    final_policy: str  # the last config written, after the load
    final_s: float | None  # until the server ran exactly what it asks for
    slowest_churn_s: float  # the longest publish + remove + rewrite step
    server_errors: list[str]  # ERROR records of the server log, tracebacks included


@dataclass
class Window:
    """One stretch of the run: what the clients saw, what changed, the server's RSS."""

    start: float
    end: float
    rest: list[float] = field(default_factory=list)  # latencies of good answers, ms
    grpc: list[float] = field(default_factory=list)
    errors: int = 0
    events: Counter = field(default_factory=Counter)  # published, removed, reloaded, ...
    rss: list[float] = field(default_factory=list)  # MiB

    @property
    def requests(self) -> int:
        return len(self.rest) + len(self.grpc) + self.errors


def windows(
    lines: list[dict],
    rss: list[tuple[float, float]],
    events: list[tuple[float, str]],
    width: float,
    seconds: float,
) -> list[Window]:
    """Everything the run recorded, by time since the load started, in windows of `width`
    seconds; anything timed before 0 joins the first window, after `seconds` the last."""
    count = max(1, math.ceil(seconds / width))
    out = [Window(i * width, min((i + 1) * width, seconds)) for i in range(count)]

    def at(t: float) -> Window:
        return out[min(max(int(t // width), 0), count - 1)]

    for line in lines:
        w = at(line["at"])
        w.rest += line["rest"]
        w.grpc += line["grpc"]
        w.errors += sum(line["errors"].values())
    for t, mib in rss:
        at(t).rss.append(mib)
    for t, kind in events:
        at(t).events[kind] += 1
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), or None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@dataclass(frozen=True)
class Memory:
    """The server's RSS: start is the median of the first window after warm-up (the first
    window), end the median of the last; the slope is fitted over every sample after warm-up."""

    start: float
    end: float
    peak: float
    slope: float  # MiB per minute

    @property
    def growth(self) -> float:
        return self.end - self.start

    @classmethod
    def of(cls, rows: list[Window], samples: list[tuple[float, float]]) -> Memory:
        settled = [(t, mib) for t, mib in samples if t >= rows[1].start]
        times, values = zip(*settled, strict=True)
        slope = statistics.linear_regression(times, values).slope * 60 if len(settled) > 1 else 0
        return cls(
            statistics.median(rows[1].rss),
            statistics.median(rows[-1].rss),
            max(mib for _, mib in samples),
            slope,
        )


def render(run: Run, rows: list[Window], args, setup: str) -> tuple[str, bool]:
    """The per-window table, the run's totals and the targets, printed; the markdown report
    (`setup` says what ran) and whether every target passed."""
    per_window = Table(
        f"bench-soak: {args.name}, {args.connections} clients (REST and gRPC), a version "
        f"published every {args.churn_seconds:g} s",
        [
            Column("seconds", "left"),
            *map(Column, ("requests", "errors", "REST p50 ms", "REST p99 ms", "gRPC p50 ms")),
            *map(Column, ("gRPC p99 ms", "published", "removed", "reloads", "loads / unloads")),
            Column("RSS MiB"),
        ],
    )
    for i, w in enumerate(rows):
        e = w.events
        per_window.add(
            f"{w.start:g}-{w.end:g}" + (" (warm-up)" if i == 0 else ""),
            f"{w.requests:,}",
            str(w.errors),
            *(_ms(percentile(w.rest, q)) for q in (50, 99)),
            *(_ms(percentile(w.grpc, q)) for q in (50, 99)),
            str(e["published"]),
            str(e["removed"]),
            str(e["reloaded"]),
            f"{e['loaded']} / {e['unloaded']}",
            f"{statistics.median(w.rss):.0f}" if w.rss else "-",
            strong=w.errors > 0,
        )
    per_window.print()

    rest = [ms for w in rows for ms in w.rest]
    grpc = [ms for w in rows for ms in w.grpc]
    errors = sum(w.errors for w in rows)
    total = Counter()
    for w in rows:
        total.update(w.events)
    memory = Memory.of(rows, run.rss)
    p99s = [p for w in rows for p in (percentile(w.rest, 99), percentile(w.grpc, 99)) if p]
    answered_by = {version for line in run.lines for version in line["versions"]}
    summary = Table("the run", [Column("figure", "left"), Column("value", "left")])
    for figure, value in [
        (
            "requests (REST / gRPC)",
            f"{len(rest) + len(grpc) + errors:,} ({len(rest):,} / {len(grpc):,})",
        ),
        ("errors", str(errors)),
        (
            "p50 / p99 ms, whole run (REST; gRPC)",
            f"{_ms(percentile(rest, 50))} / {_ms(percentile(rest, 99))}; {_ms(percentile(grpc, 50))} / {_ms(percentile(grpc, 99))}",
        ),
        (
            "p99 ms, per window (lowest - highest)",
            f"{_ms(min(p99s, default=None))} - {_ms(max(p99s, default=None))}",
        ),
        (
            "versions published / removed",
            f"{len(run.published)} / {len(run.removed)} (last: {run.published[-1]})",
        ),
        ("versions that answered gRPC requests", str(len(answered_by))),
        ("config rewrites / reloads applied", f"{total['written']} / {total['reloaded']}"),
        ("slowest churn step (publish, remove, rewrite)", f"{run.slowest_churn_s:.2f} s"),
        ("versions loaded / unloaded", f"{total['loaded']} / {total['unloaded']}"),
        (
            "server RSS start → end (peak)",
            f"{memory.start:.1f} → {memory.end:.1f} MiB (peak {memory.peak:.1f})",
        ),
        (
            "RSS growth; fitted slope",
            f"{memory.growth:+.1f} MiB ({memory.growth / memory.start:+.1%}); {memory.slope:+.2f} MiB/min",
        ),
    ]:
        summary.add(figure, value)
    summary.print()

    served, expected = sum(run.server_counts.values()), run.sent
    not_ok = served - run.server_counts["OK"]
    verdicts = [
        ("no request failed or answered wrong", str(errors), errors == 0),
        (
            "the server counted every request, all OK (request_count)",
            f"{served:,} of {expected:,}, {not_ok} not OK",
            served == expected and not_ok == 0,
        ),
        (
            "the newest version serves once the churn stops",
            "-" if run.settle_s is None else f"after {run.settle_s:.1f} s",
            run.settle_s is not None,
        ),
        (
            f"then a last config, {run.final_policy}, is applied",
            "-" if run.final_s is None else f"after {run.final_s:.1f} s",
            run.final_s is not None,
        ),
        ("no ERROR record in the server log", str(len(run.server_errors)), not run.server_errors),
        (
            f"RSS growth <= {args.max_growth_mib:g} MiB",
            f"{memory.growth:+.1f} MiB",
            memory.growth <= args.max_growth_mib,
        ),
    ]
    checks = targets(verdicts)
    checks.print()
    samples = [s for line in run.lines for s in line["samples"]][:10]
    for line in [*samples, *run.server_errors[:10]]:
        ui.out.print(line, markup=False)

    lines = [
        "# bench-soak",
        "",
        setup + " RSS is the server process's VmRSS, sampled every second: start is the median of "
        f"{rows[1].start:g}-{rows[1].end:g} s (the first window after the warm-up), end the "
        "median of the last window.",
        "",
        per_window.markdown(),
        "",
        summary.markdown(),
        "",
        checks.markdown(),
        "",
    ]
    if samples or run.server_errors:
        lines += ["Errors, as the clients and the server log saw them:", "", "```"]
        lines += [*samples, *run.server_errors[:10], "```", ""]
    return "\n".join(lines), all(ok for _, _, ok in verdicts)
