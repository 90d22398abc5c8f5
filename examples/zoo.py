"""The model zoo: train every example, run each through every target, write one matrix.

python examples/zoo.py                      # all kinds; models/reports/zoo.md
python examples/zoo.py --kinds text,tabular --jobs 1

Each kind's train.py writes model.keras and samples.npz into models/.zoo/<kind>/ (trained again
only when its script changed); then `python -m pipeline run --model ... --samples ...` publishes
it as zoo-<kind>, exactly as a user brings a model. Two jobs at a time fill this machine's two
cores. The matrix (model x target x runtime) comes from the manifests the runs wrote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import MODELS_DIR  # noqa: E402
from pipeline.layout import Layout, write_text_atomic  # noqa: E402
from pipeline.report import compatibility, shape_text  # noqa: E402

KINDS = ("image_cnn", "text", "sequence", "transformer", "tabular")
PYTHON = sys.executable


def train(kind: str, work: Path) -> tuple[float, str]:
    """Run examples/<kind>/train.py unless its model is there from the same script."""
    script = ROOT / "examples" / kind / "train.py"
    out = work / kind
    stamp = hashlib.sha256(script.read_bytes() + (ROOT / "examples" / "common.py").read_bytes())
    marker = out / "trained-by.sha256"
    if marker.is_file() and marker.read_text() == stamp.hexdigest():
        return 0.0, "(kept: its script has not changed)"
    start = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, str(script), "--out", str(out)], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind}: train.py failed: {_last_line(proc.stderr)}")
    marker.write_text(stamp.hexdigest())
    return time.perf_counter() - start, proc.stdout.strip().splitlines()[-1]


def publish(kind: str, work: Path, models: Path) -> tuple[float, int, str]:
    """The pipeline's own command line on the trained model: seconds, exit code, last line."""
    start = time.perf_counter()
    args = ["run", "--name", f"zoo-{kind}", "--models-dir", str(models)]
    args += [
        "--model",
        str(work / kind / "model.keras"),
        "--samples",
        str(work / kind / "samples.npz"),
    ]
    proc = subprocess.run(
        [PYTHON, "-m", "pipeline", *args], capture_output=True, text=True, cwd=ROOT
    )
    return time.perf_counter() - start, proc.returncode, _last_line(proc.stdout + proc.stderr)


def _summary(models: Path, kind: str, last: str) -> str:
    """ "published" and what was left out, from the run's manifest; else the run's last line."""
    layout = Layout(models, f"zoo-{kind}")
    if not layout.manifest.is_file():
        return last
    manifest = json.loads(layout.manifest.read_text())
    left = [f"{a['target']} ({a['outcome']})" for a in manifest["artifacts"] if not a["published"]]
    status = "published" if manifest["passed"] else "not published"
    return status + (f"; left out: {', '.join(left)}" if left else "; every target")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def matrix(models: Path, kinds: list[str], timings: dict[str, dict]) -> str:
    """zoo.md: per model its signature and target x runtime cells, then the timings."""
    lines = ["# Model zoo: every example through every target", ""]
    lines += [
        "Each cell is *verified* (with its figure), *not supported* (the converter's or runtime's "
        "own reason) or *missed gate* (the figures). Made by `make zoo`.",
        "",
    ]
    for kind in kinds:
        layout = Layout(models, f"zoo-{kind}")
        if not layout.manifest.is_file():
            lines += [f"## zoo-{kind}", "", f"no manifest: {timings[kind].get('error', '?')}", ""]
            continue
        manifest = json.loads(layout.manifest.read_text())
        header, rows = compatibility(manifest)
        inputs = ", ".join(_tensor(t) for t in manifest["inputs"])
        outputs = ", ".join(_tensor(t) for t in manifest["outputs"])
        status = "published" if manifest["passed"] else "NOT published"
        lines += [f"## zoo-{kind} v{manifest['version']}: {status}", ""]
        lines += [f"Inputs {inputs}; outputs {outputs}.", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.append("")
    lines += ["## Time on this machine", "", "| model | train s | pipeline s | result |"]
    lines.append("| --- | --- | --- | --- |")
    for kind in kinds:
        t = timings[kind]
        lines.append(
            f"| zoo-{kind} | {t.get('train_s', 0):.1f} | {t.get('pipeline_s', 0):.1f} "
            f"| {t.get('result', '')} |"
        )
    lines += ["", f"Wall time of `make zoo`: {timings['_wall']:.0f} s.", ""]
    return "\n".join(lines)


def _tensor(t: dict) -> str:
    return f"`{t['name']}` {t['dtype']} {shape_text(t['shape'])}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python examples/zoo.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="models at a time (default: 2)")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if unknown := sorted(set(kinds) - set(KINDS)):
        print(
            f"zoo: error: unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}",
            file=sys.stderr,
        )
        return 2
    models = args.models_dir.resolve()
    work = models / ".zoo"
    start = time.perf_counter()
    timings: dict[str, dict] = {k: {} for k in kinds}

    def one(kind: str) -> None:
        try:
            timings[kind]["train_s"], trained = train(kind, work)
            print(f"zoo-{kind}: trained {trained}", flush=True)
            seconds, code, last = publish(kind, work, models)
            timings[kind].update(pipeline_s=seconds, code=code, result=_summary(models, kind, last))
            print(f"zoo-{kind}: pipeline exit {code} in {seconds:.0f} s: {last}", flush=True)
        except Exception as exc:  # one model's failure is its row, not the zoo's end
            timings[kind].update(code=1, result=str(exc), error=str(exc))
            print(f"zoo-{kind}: {exc}", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(one, kinds))
    timings["_wall"] = time.perf_counter() - start
    out = models / "reports" / "zoo.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, matrix(models, kinds, timings))
    failed = [k for k in kinds if timings[k].get("code") != 0]
    print(
        f"wrote {out} in {timings['_wall']:.0f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
