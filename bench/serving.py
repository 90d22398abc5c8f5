"""bench-serving: the model server under load beside HTTP and gRPC floors and a naive Keras server.

python -m bench.serving --name digits    # writes models/reports/<name>/bench-serving.md, bench.md

In one run, on the same golden digits (one instance per request):
(a) the HTTP floor: the same aiohttp + uvloop stack parsing the body and answering a canned reply;
(b) a naive server calling Keras model.predict per request; (c) this server without batching;
(d) this server with batching; (f) the gRPC floor: the same grpc.aio + uvloop stack parsing each
PredictRequest and answering a canned PredictResponse; (e) this server with batching over gRPC.
wrk drives REST (32 bodies in rotation); h2load (nghttp2) drives gRPC with a pre-built
length-prefixed PredictRequest, one stream per connection. h2load counts HTTP statuses only, so
every gRPC answer is checked apart: the server's request_count metric by gRPC status, before
and after. All on 127.0.0.1, for `--duration` seconds at each connection count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.table import Column, Table, targets, write_report
from pipeline import ui
from pipeline.config import DEFAULT_NAME, MODELS_DIR, ROOT
from pipeline.data import read_golden
from pipeline.layout import Layout
from serving.client import predict_request
from serving.process import ServerProcess, free_port

BODIES = 32
# What (d) must reach at 64 connections: at least half the floor's req/s (the model, batching
# included, may cost no more than the bare HTTP stack), a p99 a caller does not notice, no errors.
MIN_FLOOR_SHARE, MAX_P99_MS, TARGET_CONNECTIONS = 0.5, 25.0, 64
FLOOR = "(a) HTTP floor"
NAIVE = "(b) naive Keras predict"
PLAIN = "(c) model server"
BATCHING_SERVER = "(d) model server, batching"
GRPC = "(e) model server, batching, over gRPC"
GRPC_FLOOR = "(f) gRPC floor"
MONITORING = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"
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
    cpu_us: float | None = None  # the server process's CPU time per answered request

    def cells(self) -> list[str]:
        """The row's figures, under RESULT_COLUMNS."""
        return [
            self.server,
            self.protocol,
            str(self.connections),
            f"{self.rps:,.0f}",
            f"{self.p50_ms:.2f}",
            f"{self.p99_ms:.2f}",
            str(self.errors),
            f"{self.cpu_us:,.0f}" if self.cpu_us is not None else "-",
        ]


RESULT_COLUMNS = [
    Column("server", "left"),
    Column("protocol", "left"),
    *map(Column, ("conns", "req/s", "p50 ms", "p99 ms", "errors", "server CPU us/req")),
]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(pid: int, load: Callable[[], Result]) -> Result:
    """Run one load measurement and add the server's CPU microseconds per answered request."""
    before = cpu_seconds(pid)
    result = load()
    result.cpu_us = (cpu_seconds(pid) - before) / max(result.requests, 1) * 1e6
    return result


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
    """A baseline server (floor, naive or grpc-floor) as a child process."""

    def __init__(self, kind: str, keras: Path | None = None, reply: Path | None = None):
        self.port = free_port()
        args = [sys.executable, "-m", "bench.baselines", kind, f"--port={self.port}"]
        if keras:
            args.append(f"--keras={keras}")
        if reply:
            args.append(f"--reply={reply}")
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
    p = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.splitlines()[0])
    p.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (default: 10)")
    p.add_argument("--connections", default="16,64", help="comma-separated (default: 16,64)")
    p.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="back-to-back floor/batching runs at 64 connections for the target (default: 3)",
    )
    args = p.parse_args(argv)
    layout = Layout(args.models_dir, args.name)
    if args.pairs < 1:
        print(f"{p.prog}: error: --pairs must be at least 1", file=sys.stderr)
        return 2
    for tool in ("wrk", "h2load"):
        if shutil.which(tool) is None:
            print(
                f"{p.prog}: error: {tool} is not installed (make bench-serving installs it)",
                file=sys.stderr,
            )
            return 2
    if not layout.versions():
        print(
            f"{p.prog}: error: no SavedModel under {layout.serving_base}: run make all",
            file=sys.stderr,
        )
        return 2
    x = read_golden(layout.golden_dir).single().x
    bodies = [json.dumps({"instances": x[i : i + 1].tolist()}) for i in range(BODIES)]
    connections = [int(c) for c in args.connections.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    script = work / "post.lua"
    script.write_text(lua_script(bodies))
    path = f"/v1/models/{args.name}:predict"
    results: list[Result] = []

    def measure(server: str, port: int, pid: int, c: int) -> Result:
        ui.console.print(f"[bold]{server}[/] REST, {c} connections, {args.duration} s")
        url = f"http://127.0.0.1:{port}{path}"
        return with_cpu(
            pid, lambda: Result(server, "REST", c, *run_wrk(url, script, c, args.duration))
        )

    def rest(server: str, port: int, pid: int) -> None:
        results.extend(measure(server, port, pid, c) for c in connections)

    with Baseline("floor") as floor:
        rest(FLOOR, floor.port, floor.proc.pid)
    with Baseline("naive", layout.keras_model) as naive:
        rest(NAIVE, naive.port, naive.proc.pid)
    with ServerProcess(base_flags(layout), log=work / "server-plain.log") as server:
        rest(PLAIN, server.rest_port, server.proc.pid)
    batching = batching_flags(layout, work)
    body = work / "predict.bin"
    body.write_bytes(grpc_request(args.name, x[:1]))
    pairs: list[tuple[Result, Result]] = []
    with ServerProcess(batching, log=work / "server-batching.log") as server:
        rest(BATCHING_SERVER, server.rest_port, server.proc.pid)
        # the gRPC floor answers what the server answers for the same request, canned
        reply = work / "reply.bin"
        reply.write_bytes(predict_once(server.grpc_target, body.read_bytes()[5:]))
        with Baseline("grpc-floor", reply=reply) as floor:
            for c in connections:
                results.append(
                    grpc_row(GRPC_FLOOR, floor.port, floor.proc.pid, body, c, args.duration, work)
                )
        statuses = partial(grpc_statuses, server.rest_port, args.name)
        for c in connections:
            results.append(
                grpc_row(
                    GRPC, server.grpc_port, server.proc.pid, body, c, args.duration, work, statuses
                )
            )
        # The floor and (d) measured back to back, a few times over, so that the ratio is not
        # one of two moments minutes apart on a shared, drifting machine.
        with Baseline("floor") as floor:
            for _ in range(args.pairs):
                pairs.append(
                    (
                        measure(FLOOR, floor.port, floor.proc.pid, TARGET_CONNECTIONS),
                        measure(
                            BATCHING_SERVER, server.rest_port, server.proc.pid, TARGET_CONNECTIONS
                        ),
                    )
                )

    text, passed = render(results, pairs, args.name, args.duration)
    ui.console.print(f"wrote {write_report(layout.reports_dir, 'serving', text)}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


def base_flags(layout: Layout) -> list[str]:
    return [
        "--model_name=" + layout.name,
        f"--model_base_path={layout.serving_base.resolve()}",
        "--file_system_poll_wait_seconds=0",
        # one TF thread per op: a small model on two cores shared with the load generator
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=1",
    ]


def batching_flags(layout: Layout, work: Path) -> list[str]:
    """The server as bench-serving's (d) and (e) run it: batching, Prometheus metrics on (the
    gRPC rows' answers are checked by its request_count); its config files written in `work`."""
    (work / "batching.config").write_text(BATCHING)
    (work / "monitoring.config").write_text(MONITORING)
    return [
        *base_flags(layout),
        "--enable_batching",
        f"--batching_parameters_file={work / 'batching.config'}",
        f"--monitoring_config_file={work / 'monitoring.config'}",
    ]


def grpc_request(name: str, x) -> bytes:
    """One PredictRequest for `x` as a gRPC message on the wire: a 0 (not compressed) byte, its
    length in 4 big-endian bytes, the serialized request."""
    message = predict_request(name, {"image": x}).SerializeToString()
    return b"\x00" + len(message).to_bytes(4, "big") + message


def predict_once(target: str, message: bytes) -> bytes:
    """One Predict call with the official stub: the serialized PredictResponse."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_pb2.PredictRequest.FromString(message), timeout=30)
    return response.SerializeToString()


def parse_h2load(output: str, log: Path) -> tuple[float, float, float, int, int]:
    """req/s, p50 and p99 ms (from the per-request log), HTTP-level errors, requests done."""
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", output).group(1))
    m = re.search(
        r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        output,
    )
    done, _succeeded, failed, errored, timeout = map(int, m.groups())
    status = re.search(r"status codes: (\d+) 2xx", output)
    non_2xx = done - int(status.group(1)) if status else 0
    elapsed = sorted(int(line.split()[2]) for line in log.read_text().splitlines() if line.strip())
    if not elapsed:
        raise RuntimeError(f"h2load logged no request: {output.strip()[-300:]}")

    def pct(q: float) -> float:
        return elapsed[min(len(elapsed) - 1, int(q * len(elapsed)))] / 1000

    return rps, pct(0.5), pct(0.99), failed + errored + timeout + non_2xx, done


def run_h2load(port: int, body: Path, connections: int, duration: int, work: Path) -> tuple:
    log = work / f"h2load-{port}-{connections}.log"
    cmd = ["h2load", "-c", str(connections), "-m", "1", "-t", "1", "-D", str(duration)]
    cmd += ["-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
    cmd += ["--log-file", str(log), f"http://127.0.0.1:{port}{PREDICT_PATH}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"h2load failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_h2load(proc.stdout, log)


def grpc_statuses(rest_port: int, name: str) -> dict[str, float]:
    """The server's request_count for `name` by status, from its Prometheus metrics."""
    import urllib.request

    url = f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    pattern = rf':tensorflow:serving:request_count\{{model_name="{re.escape(name)}",status="(\w+)"\}} (\S+)'
    return {status: float(v) for status, v in re.findall(pattern, text)}


def grpc_row(
    server: str, port: int, pid: int, body: Path, c: int, duration: int, work: Path, check=None
) -> Result:
    """One h2load measurement; `check` (before, after) turns the server's own count of answers
    that were not OK into errors, since h2load sees HTTP 200 for a failed gRPC call too."""
    ui.console.print(f"[bold]{server}[/] gRPC (h2load), {c} connections, {duration} s")
    before = check() if check else None
    result = with_cpu(
        pid, lambda: Result(server, "gRPC", c, *run_h2load(port, body, c, duration, work))
    )
    if check:
        after = check()
        not_ok = sum(after.get(k, 0) - before.get(k, 0) for k in after if k != "OK")
        answered = after.get("OK", 0) - before.get("OK", 0)
        result.errors += int(not_ok) + max(0, result.requests - int(answered) - int(not_ok))
    return result


def render(
    results: list[Result], pairs: list[tuple[Result, Result]], name: str, duration: int
) -> tuple[str, bool]:
    # each row against the floor of its own protocol: (a) for REST, (f) for gRPC
    floor = {(r.protocol, r.connections): r.rps for r in results if r.server in (FLOOR, GRPC_FLOOR)}
    naive = {r.connections: r.rps for r in results if r.server == NAIVE}
    rows = Table(
        f"bench-serving: {name}, one instance per request, {duration} s each",
        [*RESULT_COLUMNS, *map(Column, ("x its floor", "x naive (b)"))],
    )
    for r in results:
        rows.add(
            *r.cells(),
            f"{r.rps / floor[r.protocol, r.connections]:.2f}"
            if floor.get((r.protocol, r.connections))
            else "-",
            f"{r.rps / naive[r.connections]:.0f}" if naive.get(r.connections) else "-",
        )
    rows.print()

    # the verdict, from the back-to-back pairs: the median ratio, the worst p99, every error
    verdicts, pair_lines = [], []
    if pairs:
        share = statistics.median(d.rps / f.rps for f, d in pairs)
        worst_p99 = max(d.p99_ms for _, d in pairs)
        errors = sum(d.errors for _, d in pairs)
        for i, (f, d) in enumerate(pairs, 1):
            line = (
                f"pair {i}: floor {f.rps:,.0f} req/s ({f.cpu_us:.0f} us/req), batching "
                f"{d.rps:,.0f} req/s ({d.cpu_us:.0f} us/req, p99 {d.p99_ms:.2f} ms, "
                f"{d.errors} errors): {d.rps / f.rps:.2f} x"
            )
            pair_lines.append(line)
            ui.out.print(line)
        verdicts = [
            (
                f"batching at {TARGET_CONNECTIONS} connections >= {MIN_FLOOR_SHARE} x the HTTP "
                f"floor (median of {len(pairs)} back-to-back pairs)",
                f"{share:.2f} x",
                share >= MIN_FLOOR_SHARE,
            ),
            (
                f"batching at {TARGET_CONNECTIONS} connections p99 <= {MAX_P99_MS:g} ms (worst pair)",
                f"{worst_p99:.2f} ms",
                worst_p99 <= MAX_P99_MS,
            ),
            (
                f"batching at {TARGET_CONNECTIONS} connections: zero errors",
                str(errors),
                errors == 0,
            ),
        ]
    checks = targets(verdicts)
    checks.print()
    lines = [
        "# bench-serving",
        "",
        f"`{name}`, one golden instance per request ({BODIES} bodies in rotation), {duration} s per "
        "row, load generator on the same 2-core machine (wrk -t2 for REST; h2load -t1, one "
        "stream per connection, for gRPC, its answers checked apart by the server's own count of "
        "gRPC statuses). Each row's floor is its protocol's: (a) for REST, (f) for gRPC. Ratios "
        "are against rows of this same run. Server CPU us/req is the "
        "server process's user + system CPU time during the row over the requests it answered: "
        "what one request costs the server, whatever share of the cores the load generator takes.",
        "",
        rows.markdown(),
        "",
        f"The target, measured as back-to-back pairs at {TARGET_CONNECTIONS} connections:",
        "",
        *[f"- {line}" for line in pair_lines],
        "",
        checks.markdown(),
        "",
    ]
    return "\n".join(lines), all(ok for _, _, ok in verdicts)


if __name__ == "__main__":
    sys.exit(main())
