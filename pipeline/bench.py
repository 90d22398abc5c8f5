"""bench-pipeline: seconds per stage of a full run, in a scratch models directory.

python -m pipeline bench     # writes models/reports/<name>/bench-pipeline.md and bench.md
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid

from rich.table import Table

from pipeline import ui
from pipeline.config import ROOT, PipelineConfig
from pipeline.layout import Layout, write_text_atomic

BUDGET_S = 180.0  # `make all` once the environment exists, on a 2-core machine


def bench_pipeline(cfg: PipelineConfig) -> str:
    scratch = cfg.models_dir / ".bench" / uuid.uuid4().hex[:8]
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--name",
        cfg.name,
        "--models-dir",
        str(scratch),
    ]
    cmd += ["--trainer", cfg.trainer, "--epochs", str(cfg.train.epochs)]
    try:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        manifest_path = Layout(scratch, cfg.name).manifest
        if not manifest_path.is_file():
            tail = "\n".join(proc.stderr.splitlines()[-5:])
            raise SystemExit(f"bench run failed (exit {proc.returncode}):\n{tail}")
        manifest = json.loads(manifest_path.read_text())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = render(manifest, wall, proc.returncode)
    reports = Layout(cfg.models_dir, cfg.name).reports_dir
    write_text_atomic(reports / "bench-pipeline.md", text)
    collect(reports)
    return text


def render(manifest: dict, wall: float, exit_code: int) -> str:
    timings = manifest["timings_s"]
    staged = sum(timings.values())
    rows = [(stage, s, s / wall) for stage, s in timings.items()]
    rows.append(("start-up, imports, publish", wall - staged, (wall - staged) / wall))
    table = Table(title="bench-pipeline: one full run")
    for column in ("stage", "seconds", "share of total"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for stage, s, share in rows:
        table.add_row(stage, f"{s:.1f}", f"{share:.0%}")
    table.add_row(
        "total (wall)", f"{wall:.1f}", f"{wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget"
    )
    ui.out.print(table)

    lines = [
        "# bench-pipeline",
        "",
        f"One `python -m pipeline run` of `{manifest['model']}` in a scratch models directory "
        f"(exit code {exit_code}; commit `{manifest['source_commit']}`).",
        "",
        "| stage | seconds | share of total |",
        "| --- | ---: | ---: |",
        *[f"| {stage} | {s:.1f} | {share:.0%} |" for stage, s, share in rows],
        f"| **total (wall)** | **{wall:.1f}** | {wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget |",
        "",
    ]
    trainers = (manifest.get("training") or {}).get("trainers", {})
    if {"keras", "tf"} <= trainers.keys():
        k, t = trainers["keras"], trainers["tf"]
        lines += [
            "| trainer | s / epoch | ratio to Keras fit |",
            "| --- | ---: | ---: |",
            f"| keras fit | {k['seconds_per_epoch']:.3f} | 1.00 |",
            f"| tf GradientTape loop | {t['seconds_per_epoch']:.3f} | "
            f"{t['seconds_per_epoch'] / k['seconds_per_epoch']:.2f} |",
            "",
        ]
    return "\n".join(lines)


def collect(reports) -> None:
    """bench.md: every bench-*.md of this model, one after the other."""
    parts = [p.read_text() for p in sorted(reports.glob("bench-*.md"))]
    write_text_atomic(reports / "bench.md", "\n".join(parts) or "# Benchmarks\n\nNone run yet.\n")
