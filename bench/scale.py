"""bench-scale: serving on 1, 2 and 3 swarm replicas behind the proxy, training on 1 and 2 workers.

python -m bench.scale --name digits    # writes models/reports/<name>/bench-scale.md, bench.md

Serving: the swarm stack (deploy/swarm/swarm.sh, a stack of its own on free ports) at each
replica count, wrk POSTing one golden digit per request through the proxy's REST port; the
replicas' CPU per answered request comes from their cgroups (Docker's stats). Training: the
digits on `docker/train-distributed.sh` with 1 and 2 trainer containers (`train --no-compare`),
time per step and its all-reduce from the run's training.json. Ratios are against one replica
and one worker, measured in the same run. On a machine of two cores the replicas and workers share
those two cores, so this measures what scaling out costs here, not what it gains on more machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker
from bench.serving import lua_script, run_wrk
from bench.table import Column, Table, write_report
from pipeline import ui
from pipeline.config import DEFAULT_NAME, MODELS_DIR, ROOT
from pipeline.data import read_golden
from pipeline.layout import Layout
from serving.process import free_port

STACK = "kd-bench-scale"
BODIES = 32
SERVING_COLUMNS = (
    "replicas",
    "req/s",
    "x 1 replica",
    "p50 ms",
    "p99 ms",
    "errors",
    "replicas' CPU µs / req",
    "proxy CPU µs / req",
)
TRAINING_COLUMNS = (
    "workers",
    "global batch",
    "epochs",
    "ms / step",
    "x 1 worker",
    "all-reduce ms / step",
    "samples / s",
    "test accuracy",
)


@dataclass
class Serving:
    replicas: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float  # the replicas' CPU per answered request
    proxy_cpu_us: float


@dataclass
class Training:
    workers: int
    batch: int
    epochs: int
    step_ms: float
    allreduce_ms: float
    seconds_per_epoch: float
    accuracy: float


def cpu_ns(engine, service: str) -> int:
    """CPU nanoseconds used so far by the running containers of a swarm service."""
    found = engine.containers.list(filters={"label": f"com.docker.swarm.service.name={service}"})
    return sum(c.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"] for c in found)


def swarm(command: str, env: dict) -> None:
    done = subprocess.run(
        ["bash", "deploy/swarm/swarm.sh", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"swarm.sh {command}: {(done.stderr or done.stdout).strip()[-800:]}")


def measure_serving(args, bodies: list[str], work: Path) -> list[Serving]:
    engine = docker.from_env()
    rest = free_port()
    env = {
        **os.environ,
        "STACK": STACK,
        "MODEL_NAME": args.name,
        "MODELS_DIR": str(args.models_dir),
        "REST_PORT": str(rest),
        "GRPC_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
    }
    script = work / "post.lua"
    script.write_text(lua_script(bodies))
    url = f"http://127.0.0.1:{rest}/v1/models/{args.name}:predict"
    rows = []
    try:
        for replicas in args.replicas:
            ui.console.print(f"[bold]serving[/]: {replicas} replica(s), deploying")
            swarm("up", {**env, "REPLICAS": str(replicas)})
            run_wrk(url, script, args.connections, 3)  # warm every replica's connections
            before = cpu_ns(engine, f"{STACK}_model-server"), cpu_ns(engine, f"{STACK}_proxy")
            rps, p50, p99, errors, requests = run_wrk(url, script, args.connections, args.duration)
            after = cpu_ns(engine, f"{STACK}_model-server"), cpu_ns(engine, f"{STACK}_proxy")
            per = [
                (a - b) / 1e3 / max(requests - errors, 1)
                for a, b in zip(after, before, strict=True)
            ]
            rows.append(Serving(replicas, rps, p50, p99, errors, requests, *per))
            ui.console.print(f"  {rps:,.0f} req/s, p99 {p99:.1f} ms, {errors} errors")
    finally:
        swarm("down", env)
        engine.close()
    return rows


def measure_training(args, work: Path) -> list[Training]:
    rows = []
    for workers in args.workers:
        models = work / f"train-{workers}"
        ui.console.print(f"[bold]training[/]: {workers} worker(s)")
        done = subprocess.run(
            ["bash", "docker/train-distributed.sh", "scale", str(workers), "train", "--no-compare"],
            cwd=ROOT,
            env={**os.environ, "MODELS_DIR": str(models)},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"training on {workers} workers failed:\n{done.stdout[-2000:]}")
        record = json.loads((Layout(models, "scale").keras_dir / "training.json").read_text())
        s = record["trainers"][record["exported"]]
        d = s["distributed"]
        rows.append(
            Training(
                workers,
                s["batch_size"],
                s["epochs"],
                s["seconds_per_step"] * 1000,
                d["allreduce_ms"],
                s["seconds_per_epoch"],
                s["test_accuracy"],
            )
        )
    return rows


def render(name: str, serving: list[Serving], training: list[Training], args) -> tuple[str, list]:
    base = serving[0] if serving else None
    s = Table(
        f"Serving {name} through the proxy: wrk, {args.connections} connections, {args.duration} s",
        [Column(header) for header in SERVING_COLUMNS],
    )
    for r in serving:
        s.add(
            str(r.replicas),
            f"{r.rps:,.0f}",
            f"{r.rps / base.rps:.2f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.errors),
            f"{r.cpu_us:,.0f}",
            f"{r.proxy_cpu_us:,.0f}",
            strong=r.errors > 0,
        )
    one = training[0] if training else None
    per_worker = one.batch // one.workers if one else 0
    t = Table(
        f"Training {name}'s CNN with the TF loop on MultiWorkerMirroredStrategy, "
        f"{per_worker} per worker",
        [Column(header) for header in TRAINING_COLUMNS],
    )
    for r in training:
        t.add(
            str(r.workers),
            str(r.batch),
            str(r.epochs),
            f"{r.step_ms:.1f}",
            f"{r.step_ms / one.step_ms:.2f}",
            f"{r.allreduce_ms:.1f}",
            f"{r.batch / r.step_ms * 1000:,.0f}",
            f"{r.accuracy:.2%}",
        )
    reading = (
        f"This machine has {os.cpu_count()} cores: every replica and worker shares them. More "
        "replicas add no CPU here, so req/s can only hold or fall: each replica's batching sees "
        "fewer requests at once and the replicas' TensorFlow threads contend for the same cores, "
        "so CPU per request grows; the proxy's hop is a cost one server does not pay. Two "
        "workers each train half of a batch twice as large, but on one core each, and add an "
        "all-reduce over gRPC per step; samples per second is the figure that would grow on "
        "machines of their own."
    )
    text = "\n\n".join(
        ["# bench-scale", reading, f"## {s.title}", s.markdown(), f"## {t.title}", t.markdown()]
    )
    return text + "\n", [s, t]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    p.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    p.add_argument("--replicas", default="1,2,3", help="replica counts (default: 1,2,3)")
    p.add_argument("--workers", default="1,2", help="worker counts (default: 1,2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default: 32)")
    p.add_argument("--duration", type=int, default=15, help="seconds per load (default: 15)")
    args = p.parse_args(argv)
    try:
        args.replicas = [int(v) for v in args.replicas.split(",")]
        args.workers = [int(v) for v in args.workers.split(",")]
    except ValueError:
        print(
            f"{p.prog}: error: --replicas and --workers are comma-separated counts", file=sys.stderr
        )
        return 2
    if min(args.replicas + args.workers) < 1:
        print(f"{p.prog}: error: counts must be at least 1", file=sys.stderr)
        return 2
    args.models_dir = args.models_dir.resolve()
    layout = Layout(args.models_dir, args.name)
    if not layout.versions():
        print(
            f"{p.prog}: error: no SavedModel under {layout.serving_base}: run make all",
            file=sys.stderr,
        )
        return 2
    if shutil.which("wrk") is None:
        print(
            f"{p.prog}: error: wrk is not installed (make bench-scale installs it)", file=sys.stderr
        )
        return 2
    x = read_golden(layout.golden_dir).single().x
    bodies = [json.dumps({"instances": x[i : i + 1].tolist()}) for i in range(BODIES)]
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))  # the training runs' models trees
    try:
        serving = measure_serving(args, bodies, work)
        training = measure_training(args, work)
    except RuntimeError as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text, tables = render(args.name, serving, training, args)
    for table in tables:
        table.print()
    path = write_report(layout.reports_dir, "scale", text)
    ui.console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
