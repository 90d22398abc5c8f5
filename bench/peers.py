"""bench-peers: the model server beside the servers a user would pick instead of it.

python -m bench.peers --name digits    # writes models/reports/<name>/bench-peers.md, bench.md

In one run, on the same SavedModel version, the same golden instance per request and the same
load generators on this machine: this server with batching over TF Serving's REST API, the Open
Inference Protocol's REST API and gRPC (h2load, answers checked by the server's own count), then
BentoML (adaptive batching), Ray Serve (@serve.batch) and MLServer (adaptive batching, the Open
Inference Protocol). Each peer runs from its own locked environment under envs/peer-*
(`make bench-peers` installs them), its batching on as its documentation describes, one process
or replica serving the model and TensorFlow set to one thread per op, as for this server. Every
server's first answer is checked against the SavedModel's own before it is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from bench.serving import (
    BODIES,
    RESULT_COLUMNS,
    Result,
    batching_flags,
    cpu_seconds,
    grpc_request,
    grpc_row,
    grpc_statuses,
    lua_script,
    run_wrk,
)
from bench.table import Column, Table, targets, write_report
from pipeline import ui
from pipeline.config import DEFAULT_NAME, MODELS_DIR, ROOT
from pipeline.data import read_golden
from pipeline.layout import Layout
from serving.process import ServerProcess, free_port
from serving.quiet import quiet_import_tensorflow

OURS = "this server, batching"
TARGET_CONNECTIONS, MAX_P99_MS = 64, 25.0
WARM_UP_SECONDS = 3
ANSWER_TOLERANCE = 1e-5


def tf_serving_body(x: np.ndarray) -> str:
    """TF Serving's row format, one instance: what BentoML's and Ray Serve's apps take too."""
    return json.dumps({"instances": x.tolist()})


def oip_body(input_name: str, x: np.ndarray) -> str:
    """An Open Inference Protocol request, one instance (the batch of one, as its shape)."""
    tensor = {"name": input_name, "shape": list(x.shape), "datatype": "FP32"}
    return json.dumps({"inputs": [{**tensor, "data": x.ravel().tolist()}]})


def first_row(answer: dict) -> list:
    return answer["predictions"][0]


def oip_output(answer: dict) -> list:
    return answer["outputs"][0]["data"]


@dataclass(frozen=True)
class Peer:
    """A server a user might pick instead: how to start it from its environment, and how to ask it."""

    name: str
    env: str  # envs/<env>
    path: str  # the URL path requests go to
    oip: bool  # Open Inference Protocol bodies (else TF Serving's row format)
    answer: Callable[[object], list]  # the one instance's output, from the decoded JSON answer
    command: Callable[[Path, int, Path, Path], list[str]]  # (python, port, model, work) -> argv
    envs: Path = ROOT / "envs"

    @property
    def project(self) -> Path:
        return self.envs / self.env

    @property
    def python(self) -> Path:
        return self.project / ".venv" / "bin" / "python"

    @property
    def key(self) -> str:
        """Its name for --peers: bentoml, ray, mlserver."""
        return self.env.removeprefix("peer-")


def _bentoml(python: Path, port: int, model: Path, work: Path) -> list[str]:
    bentoml = python.parent / "bentoml"
    return [str(bentoml), "serve", "service:Model", "--host", "127.0.0.1", "--port", str(port)]


def _ray(python: Path, port: int, model: Path, work: Path) -> list[str]:
    return [str(python), "app.py", str(port)]


def _mlserver(python: Path, port: int, model: Path, work: Path) -> list[str]:
    """MLServer's settings.json and the model's model-settings.json in `work`, as its docs lay
    them out; adaptive batching of up to 64 requests, closing after at most 1 ms."""
    folder = work / "mlserver"
    (folder / "model").mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "load_models_at_startup": True,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": "model",
        "implementation": "runtime.SavedModel",
        "max_batch_size": 64,
        "max_batch_time": 0.001,
        "parameters": {"uri": str(model)},
    }
    (folder / "model" / "model-settings.json").write_text(json.dumps(model_settings))
    return [str(python.parent / "mlserver"), "start", str(folder)]


PEERS = (
    Peer("BentoML", "peer-bentoml", "/predict", False, lambda a: a[0], _bentoml),
    Peer("Ray Serve", "peer-ray", "/", False, first_row, _ray),
    Peer("MLServer", "peer-mlserver", "/v2/models/model/infer", True, oip_output, _mlserver),
)


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue  # gone while we looked
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo.extend(children.get(p, []))
    return found


def tree_cpu_seconds(pids: set[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive."""
    out = {}
    for p in pids:
        with contextlib.suppress(OSError):  # gone since it was seen
            out[p] = cpu_seconds(p)
    return out


class PeerProcess:
    """A peer server in its own session; every process it started is stopped on exit."""

    def __init__(self, peer: Peer, model: Path, work: Path):
        self.peer, self.port = peer, free_port()
        self.log = work / f"{peer.env}.log"
        env = {
            **os.environ,
            "PEER_MODEL": str(model),
            "PYTHONPATH": f"{ROOT}:{peer.project}",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "BENTOML_DO_NOT_TRACK": "true",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                peer.command(peer.python, self.port, model, work),
                cwd=peer.project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: set[int] = {self.proc.pid}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pids(self) -> set[int]:
        """Its processes now (remembered, so that every one is stopped at the end)."""
        now = descendants(self.proc.pid) if self.alive() else set()
        self.seen |= now
        return now

    def tail(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.pids()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for p in self.seen:  # anything that left the session (Ray's daemons) or outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def post(url: str, body: str, timeout: float = 10) -> object:
    request = urllib.request.Request(
        url, body.encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read())


def first_answer(
    server: str, url: str, body: str, alive: Callable[[], bool], seconds: float = 300
) -> object:
    """POST until the server answers (a peer is ready when it answers, whatever it logs)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return post(url, body)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            if not alive():
                raise RuntimeError(f"{server} stopped before it answered") from e
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server}: no answer within {seconds:.0f} s: {e}") from e
            time.sleep(1)


def check_answer(server: str, got: list, expected: np.ndarray) -> None:
    got = np.asarray(got, np.float64).ravel()
    if got.shape != expected.ravel().shape or not np.allclose(
        got, expected.ravel(), atol=ANSWER_TOLERANCE, rtol=0
    ):
        raise RuntimeError(
            f"{server} answered {got[:4]}..., the SavedModel {expected.ravel()[:4]}..."
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.splitlines()[0])
    p.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (default: 10)")
    p.add_argument("--connections", default="16,64", help="comma-separated (default: 16,64)")
    p.add_argument(
        "--peers",
        default=",".join(peer.key for peer in PEERS),
        help="which peers (default: all: bentoml,ray,mlserver)",
    )
    args = p.parse_args(argv)

    def fail(message: str) -> int:
        print(f"{p.prog}: error: {message}", file=sys.stderr)
        return 2

    layout = Layout(args.models_dir, args.name)
    versions = layout.versions()
    if not versions:
        return fail(f"no SavedModel under {layout.serving_base}: run make all")
    chosen = args.peers.split(",") if args.peers else []
    unknown = [c for c in chosen if c not in {peer.key for peer in PEERS}]
    if unknown:
        return fail(f"unknown peer {unknown[0]!r}: pick from bentoml, ray, mlserver")
    peers = [peer for peer in PEERS if peer.key in chosen]
    for tool in ("wrk", "h2load"):
        if shutil.which(tool) is None:
            return fail(f"{tool} is not installed (make bench-peers installs it)")
    for peer in peers:
        if not peer.python.exists():
            return fail(f"envs/{peer.env} is not installed (make bench-peers installs it)")
    try:
        connections = [int(c) for c in args.connections.split(",")]
    except ValueError:
        return fail(f"--connections takes whole numbers, comma-separated: {args.connections!r}")
    model_dir = layout.serving_base / str(max(versions))
    quiet_import_tensorflow(init_devices=True)  # its start-up lines are not the bench's output
    from bench.peer_model import PeerModel

    model = PeerModel(str(model_dir))
    x = read_golden(layout.golden_dir).single().x[:BODIES]
    expected = model(x[:1])
    rows = [x[i : i + 1] for i in range(len(x))]
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    bodies = {  # keyed by oip: Open Inference Protocol bodies, or TF Serving's row format
        False: [tf_serving_body(r) for r in rows],
        True: [oip_body(model.input, r) for r in rows],
    }
    scripts = {oip: work / f"bodies-{oip}.lua" for oip in bodies}
    for oip, script in scripts.items():
        script.write_text(lua_script(bodies[oip]))
    results: list[Result] = []

    def rest(
        server: str,
        protocol: str,
        url: str,
        oip: bool,
        answer: Callable[[object], list],
        alive: Callable[[], bool],
        pids: Callable[[], set[int]],
    ) -> None:
        """The server's first answer checked against the SavedModel's, then a row per count."""
        check_answer(server, answer(first_answer(server, url, bodies[oip][0], alive)), expected)
        run_wrk(url, scripts[oip], 16, WARM_UP_SECONDS)  # first calls trace and allocate
        for c in connections:
            ui.console.print(f"[bold]{server}[/] {protocol}, {c} connections, {args.duration} s")
            before = tree_cpu_seconds(pids())
            result = Result(server, protocol, c, *run_wrk(url, scripts[oip], c, args.duration))
            after = tree_cpu_seconds(pids())
            used = sum(t - before.get(p, 0.0) for p, t in after.items())
            result.cpu_us = used / max(result.requests, 1) * 1e6
            results.append(result)

    try:
        with ServerProcess(batching_flags(layout, work), log=work / "server.log") as server:
            base = f"http://127.0.0.1:{server.rest_port}"

            def alive() -> bool:
                return server.proc.poll() is None

            def ours() -> set[int]:
                return {server.proc.pid}

            v1 = f"{base}/v1/models/{args.name}:predict"
            rest(OURS, "REST (TF Serving)", v1, False, first_row, alive, ours)
            v2 = f"{base}/v2/models/{args.name}/infer"
            rest(OURS, "REST (Open Inference)", v2, True, oip_output, alive, ours)
            body = work / "predict.bin"
            body.write_bytes(grpc_request(args.name, rows[0]))
            statuses = partial(grpc_statuses, server.rest_port, args.name)
            for c in connections:
                results.append(
                    grpc_row(
                        OURS,
                        server.grpc_port,
                        server.proc.pid,
                        body,
                        c,
                        args.duration,
                        work,
                        statuses,
                    )
                )
        for peer in peers:
            ui.console.print(f"starting [bold]{peer.name}[/] from envs/{peer.env}")
            with PeerProcess(peer, model_dir.resolve(), work) as proc:
                url = f"http://127.0.0.1:{proc.port}{peer.path}"
                protocol = "REST (Open Inference)" if peer.oip else "REST"
                try:
                    rest(peer.name, protocol, url, peer.oip, peer.answer, proc.alive, proc.pids)
                except RuntimeError as e:
                    raise RuntimeError(f"{e} (its log ends: {proc.tail()})") from None
    except RuntimeError as e:
        print(f"{p.prog}: error: {e} (the servers' logs are kept in {work})", file=sys.stderr)
        return 1
    text, passed = render(results, args.name, args.duration, [peer.name for peer in peers])
    ui.console.print(f"wrote {write_report(layout.reports_dir, 'peers', text)}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


def render(results: list[Result], name: str, duration: int, peers: list[str]) -> tuple[str, bool]:
    """The table (each peer row with this server's best req/s at its connection count over it)
    and the target: at TARGET_CONNECTIONS, ahead of every peer with p99 within MAX_P99_MS."""
    best: dict[int, Result] = {}
    for r in results:
        if r.server == OURS and (r.connections not in best or r.rps > best[r.connections].rps):
            best[r.connections] = r
    table = Table(
        f"bench-peers: {name}, one instance per request, {duration} s each",
        [*RESULT_COLUMNS, Column("this server's best x it")],
    )
    for r in results:
        ours = best.get(r.connections)
        table.add(
            *r.cells(),
            f"{ours.rps / r.rps:.2f}" if ours and r.server != OURS and r.rps else "-",
            strong=r is ours,
        )
    table.print()
    top = best.get(TARGET_CONNECTIONS)
    verdicts = []
    if top is None:  # not measured: the targets are not met by default
        verdicts.append((f"measured at {TARGET_CONNECTIONS} connections", "no", False))
    else:
        for peer in peers:
            theirs = [
                r for r in results if r.server == peer and r.connections == TARGET_CONNECTIONS
            ]
            if theirs:
                ratio = top.rps / theirs[0].rps if theirs[0].rps else float("inf")
                verdicts.append(
                    (
                        f"ahead of {peer} at {TARGET_CONNECTIONS} connections",
                        f"{ratio:.2f} x",
                        ratio > 1,
                    )
                )
        verdicts.append(
            (
                f"p99 at {TARGET_CONNECTIONS} connections <= {MAX_P99_MS:g} ms ({top.protocol})",
                f"{top.p99_ms:.2f} ms",
                top.p99_ms <= MAX_P99_MS,
            )
        )
        verdicts.append(
            (
                "no errors, any server",
                str(sum(r.errors for r in results)),
                not any(r.errors for r in results),
            )
        )
    checks = targets(verdicts)
    checks.print()
    lines = [
        "# bench-peers",
        "",
        f"`{name}`, the same SavedModel version behind every server, one golden instance per "
        f"request ({BODIES} bodies in rotation), {duration} s per row after a "
        f"{WARM_UP_SECONDS} s warm-up, all on this 2-core machine with the load generator "
        "(wrk -t2 for REST, h2load for gRPC). Each server's first answer was checked against the "
        f"SavedModel's (within {ANSWER_TOLERANCE:g}). Server CPU us/req is the user + system CPU "
        "time of the server's every process during the row over the requests it answered. "
        "The last column is this server's best req/s at that connection count (the bold row) "
        "over the row's.",
        "",
        table.markdown(),
        "",
        checks.markdown(),
        "",
    ]
    return "\n".join(lines), all(ok for _, _, ok in verdicts)


if __name__ == "__main__":
    sys.exit(main())
