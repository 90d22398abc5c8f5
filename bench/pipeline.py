"""bench-pipeline: seconds per stage of a full run, in a scratch models directory.

python -m bench.pipeline --name digits    # writes models/reports/<name>/bench-pipeline.md, bench.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.table import Column, Table, write_report
from pipeline.config import DEFAULT_NAME, MODELS_DIR, ROOT, PipelineConfig
from pipeline.layout import Layout

BUDGET_S = 180.0  # `make all` once the environment exists, on a 2-core machine


def bench_pipeline(name: str, models_dir: Path, trainer: str, epochs: int) -> Path:
    """Time one `python -m pipeline run` in a scratch directory; write bench-pipeline.md."""
    scratch = models_dir / ".bench" / uuid.uuid4().hex[:8]
    cmd = [sys.executable, "-m", "pipeline", "run", "--name", name, "--models-dir", str(scratch)]
    cmd += ["--trainer", trainer, "--epochs", str(epochs)]
    try:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        manifest_path = Layout(scratch, name).manifest
        if not manifest_path.is_file():
            tail = "\n".join(proc.stderr.splitlines()[-5:])
            raise SystemExit(f"bench run failed (exit {proc.returncode}):\n{tail}")
        manifest = json.loads(manifest_path.read_text())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = render(manifest, wall, proc.returncode)
    return write_report(Layout(models_dir, name).reports_dir, "pipeline", text)


def render(manifest: dict, wall: float, exit_code: int) -> str:
    timings = manifest["timings_s"]
    staged = sum(timings.values())
    stages = Table(
        "bench-pipeline: one full run",
        [Column("stage", "left"), Column("seconds"), Column("share of total")],
    )
    for stage, s in [*timings.items(), ("start-up, imports, publish", wall - staged)]:
        stages.add(stage, f"{s:.1f}", f"{s / wall:.0%}")
    budget = f"{wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget"
    stages.add("total (wall)", f"{wall:.1f}", budget, strong=True)
    stages.print()

    lines = [
        "# bench-pipeline",
        "",
        f"One `python -m pipeline run` of `{manifest['model']}` in a scratch models directory "
        f"(exit code {exit_code}; commit `{manifest['source_commit']}`).",
        "",
        stages.markdown(),
        "",
    ]
    trainers = (manifest.get("training") or {}).get("trainers", {})
    if {"keras", "tf"} <= trainers.keys():
        keras_s, tf_s = (trainers[t]["seconds_per_epoch"] for t in ("keras", "tf"))
        per_epoch = Table(
            "trainers",
            [Column("trainer", "left"), Column("s / epoch"), Column("ratio to Keras fit")],
        )
        per_epoch.add("keras fit", f"{keras_s:.3f}", "1.00")
        per_epoch.add("tf GradientTape loop", f"{tf_s:.3f}", f"{tf_s / keras_s:.2f}")
        lines += [per_epoch.markdown(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    defaults = PipelineConfig()
    p = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__.splitlines()[0]
    )
    p.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    p.add_argument(
        "--trainer",
        choices=("keras", "tf"),
        default=defaults.trainer,
        help=f"whose model to export (default: {defaults.trainer})",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=defaults.train.epochs,
        help=f"maximum epochs (default: {defaults.train.epochs}, early stopping)",
    )
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    path = bench_pipeline(args.name, args.models_dir.resolve(), args.trainer, args.epochs)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
