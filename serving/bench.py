"""bench-serving: the model server under load beside an HTTP floor and a naive Keras server.

python -m serving.bench --name digits      # writes models/reports/<name>/bench-serving.md, bench.md

In one run, on the same golden digits (one instance per request, 32 bodies in rotation):
(a) the HTTP floor: the same aiohttp + uvloop stack parsing the body and answering a canned reply;
(b) a naive server calling Keras model.predict per request; (c) this server without batching;
(d) this server with batching; and (d) over gRPC. wrk drives REST, a grpc.aio client drives gRPC,
both on 127.0.0.1, for `--duration` seconds at each connection count.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline import ui
from pipeline.bench import collect
from pipeline.config import MODELS_DIR
from pipeline.data import read_golden
from pipeline.layout import Layout, write_text_atomic
from serving.process import ROOT, ServerProcess, free_port

BODIES = 32
# The target for (d) at 64 connections.
MIN_FLOOR_SHARE, MAX_P99_MS = 0.5, 25.0
BATCHING = """max_batch_size { value: 128 }
batch_timeout_micros { value: 0 }
max_enqueued_batches { value: 1000 }
num_batch_threads { value: 1 }
"""


@dataclass
class Result:
    server: str
    protocol: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def lua_script(bodies: list[str]) -> str:
    quoted = ",\n".join("[==[" + b + "]==]" for b in bodies)
    return (
        f"local bodies = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n"
        "  i = i % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[i])\n"
        "end\n"
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    """req/s, p50 ms, p99 ms, errors (socket errors + non-2xx), requests from wrk --latency."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(m.group(1))
    return rps, p50, p99, errors, requests


def run_wrk(url: str, script: Path, connections: int, duration: int) -> tuple:
    wrk = shutil.which("wrk")
    cmd = [
        wrk,
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout)


class Baseline:
    """A baseline server (floor or naive) as a child process."""

    def __init__(self, kind: str, keras: Path | None = None):
        self.port = free_port()
        args = [sys.executable, "-m", "serving.baselines", kind, f"--port={self.port}"]
        if keras:
            args.append(f"--keras={keras}")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{kind} baseline did not start")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.bench", description=__doc__.splitlines()[0])
    p.add_argument("--name", default="digits")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (default: 10)")
    p.add_argument("--connections", default="16,64", help="comma-separated (default: 16,64)")
    args = p.parse_args(argv)
    layout = Layout(args.models_dir, args.name)
    if shutil.which("wrk") is None:
        print(
            "python -m serving.bench: error: wrk is not installed (make bench-serving installs it)",
            file=sys.stderr,
        )
        return 2
    if not layout.versions():
        print(
            f"python -m serving.bench: error: no SavedModel under {layout.serving_base}: run make all",
            file=sys.stderr,
        )
        return 2
    golden = read_golden(layout.golden_dir)
    bodies = [json.dumps({"instances": golden.x[i : i + 1].tolist()}) for i in range(BODIES)]
    connections = [int(c) for c in args.connections.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    script = work / "post.lua"
    script.write_text(lua_script(bodies))
    (work / "batching.config").write_text(BATCHING)
    path = f"/v1/models/{args.name}:predict"
    results: list[Result] = []

    def rest(server: str, port: int) -> None:
        for c in connections:
            ui.console.print(f"[bold]{server}[/] REST, {c} connections, {args.duration} s")
            rps, p50, p99, errors, n = run_wrk(
                f"http://127.0.0.1:{port}{path}", script, c, args.duration
            )
            results.append(Result(server, "REST", c, rps, p50, p99, errors, n))

    with Baseline("floor") as floor:
        rest("(a) HTTP floor", floor.port)
    with Baseline("naive", layout.keras_model) as naive:
        rest("(b) naive Keras predict", naive.port)
    base_flags = [
        "--model_name=" + args.name,
        f"--model_base_path={layout.serving_base.resolve()}",
        "--file_system_poll_wait_seconds=0",
        # one TF thread per op: a small model on two cores shared with the load generator
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=1",
    ]
    with ServerProcess(base_flags, log=work / "server-plain.log") as server:
        rest("(c) model server", server.rest_port)
    batching = [
        *base_flags,
        "--enable_batching",
        f"--batching_parameters_file={work / 'batching.config'}",
    ]
    with ServerProcess(batching, log=work / "server-batching.log") as server:
        rest("(d) model server, batching", server.rest_port)
        for c in connections:
            ui.console.print(
                f"[bold](d) model server, batching[/] gRPC, {c} concurrent, {args.duration} s"
            )
            results.append(
                grpc_load(server.grpc_target, args.name, golden.x[:BODIES], c, args.duration)
            )

    text, passed = render(results, args.name, args.duration)
    reports = layout.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    write_text_atomic(reports / "bench-serving.md", text)
    collect(reports)
    ui.console.print(f"wrote {reports / 'bench-serving.md'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


def grpc_load(target: str, name: str, x, concurrency: int, duration: int) -> Result:
    """The grpc.aio load generator, in its own process so it has its own GIL."""
    np_file = Path(tempfile.mkdtemp(prefix="grpc-load-")) / "x.npy"
    import numpy as np

    np.save(np_file, x)
    cmd = [
        sys.executable,
        "-m",
        "serving.grpc_load",
        target,
        name,
        str(np_file),
        str(concurrency),
        str(duration),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=duration + 120)
    shutil.rmtree(np_file.parent, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"gRPC load generator failed: {proc.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return Result(
        "(d) model server, batching",
        "gRPC",
        concurrency,
        doc["rps"],
        doc["p50_ms"],
        doc["p99_ms"],
        doc["errors"],
        doc["requests"],
    )


def render(results: list[Result], name: str, duration: int) -> tuple[str, bool]:
    from rich.table import Table

    floor = {r.connections: r.rps for r in results if r.server.startswith("(a)")}
    naive = {r.connections: r.rps for r in results if r.server.startswith("(b)")}
    header = [
        "server",
        "protocol",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "x floor (a)",
        "x naive (b)",
    ]
    table = Table(title=f"bench-serving: {name}, one instance per request, {duration} s each")
    for h in header:
        table.add_column(h, justify="left" if h in ("server", "protocol") else "right")
    rows = []
    for r in results:
        cells = [
            r.server,
            r.protocol,
            str(r.connections),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.errors),
            f"{r.rps / floor[r.connections]:.2f}" if floor.get(r.connections) else "-",
            f"{r.rps / naive[r.connections]:.0f}" if naive.get(r.connections) else "-",
        ]
        rows.append(cells)
        table.add_row(*cells)
    ui.out.print(table)

    target = next(
        (
            r
            for r in results
            if r.server.startswith("(d)") and r.protocol == "REST" and r.connections == 64
        ),
        None,
    )
    checks = []
    if target and floor.get(64):
        share = target.rps / floor[64]
        checks = [
            (
                f"batching at 64 connections >= {MIN_FLOOR_SHARE} x the HTTP floor",
                f"{share:.2f} x",
                share >= MIN_FLOOR_SHARE,
            ),
            (
                f"batching at 64 connections p99 <= {MAX_P99_MS:g} ms",
                f"{target.p99_ms:.2f} ms",
                target.p99_ms <= MAX_P99_MS,
            ),
            ("batching at 64 connections: zero errors", str(target.errors), target.errors == 0),
        ]
    for text, value, ok in checks:
        ui.out.print(f"{'PASS' if ok else 'FAIL'}  {text}: {value}")
    lines = [
        "# bench-serving",
        "",
        f"`{name}`, one golden instance per request ({BODIES} bodies in rotation), {duration} s per "
        "row, load generator on the same 2-core machine (wrk -t2 for REST; a grpc.aio client "
        "process for gRPC). Ratios are against rows of this same run.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" if h in ("server", "protocol") else "---:" for h in header) + " |",
        *["| " + " | ".join(cells) + " |" for cells in rows],
        "",
        "| target | measured | |",
        "| --- | ---: | --- |",
        *[f"| {text} | {value} | {'pass' if ok else 'FAIL'} |" for text, value, ok in checks],
        "",
    ]
    return "\n".join(lines), all(ok for _, _, ok in checks)


if __name__ == "__main__":
    sys.exit(main())
