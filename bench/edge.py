"""bench-edge: every TFLite variant in LiteRT beside the SavedModel signature and the Keras call.

python -m bench.edge --name digits    # writes models/reports/<name>/bench-edge.md, bench.md

It imports TensorFlow to time the two calls the TFLite files are compared with; the edge runtime
it drives (mobile/) does not. All three run on the same golden inputs with the same thread count
(TensorFlow's intra- and inter-op pools are set to it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.table import Column, Table, write_report
from mobile.bench import single_sample_latency, time_calls
from mobile.check import check
from mobile.errors import BadInput
from mobile.runtime import TfliteModel, native_stderr, version_of
from pipeline.config import DEFAULT_NAME, MODELS_DIR, SERVING_SIGNATURE
from pipeline.data import read_golden
from pipeline.errors import UserError
from pipeline.layout import Layout
from pipeline.metadata import ModelInfo, size_of
from pipeline.targets import TARGETS
from serving.quiet import quiet_import_tensorflow

BATCH = 32
# What makes the edge files worth shipping: int8 at most 30% of fp32's size and within 2 accuracy
# points of it (small without being wrong), fp32 in LiteRT at least 10x faster per sample than
# the Keras call (the reason to convert at all).
MAX_INT8_SIZE_SHARE = 0.30
MAX_INT8_ACCURACY_DROP = 0.02
MIN_FP32_SPEEDUP_OVER_KERAS = 10.0


@dataclass
class Row:
    target: str
    runtime: str
    bytes: int
    p50_ms: float
    p99_ms: float
    throughput: float  # samples/s at batch 32
    accuracy: float | None
    agreement: float  # top-1 agreement with the Keras reference outputs
    tflite_runtime: str = "-"  # whether tflite-runtime 2.14 runs it


def measure(target: str, runtime: str, size: int, call, golden, runs: int, batch_runs: int) -> Row:
    x, labels, reference = golden.single()  # the edge benchmark takes digits-like models
    outputs = np.concatenate([call(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    p50, p99 = single_sample_latency(call, x, runs)
    batches = [x[i : i + BATCH] for i in range(0, len(x) - BATCH + 1, BATCH)]
    call(batches[0])
    seconds = time_calls(call, batches, batch_runs).sum() / 1e3
    top1 = outputs.argmax(1)
    accuracy = None if labels is None else float(np.mean(top1 == labels))
    agreement = float(np.mean(top1 == reference.argmax(1)))
    return Row(target, runtime, size, p50, p99, BATCH * batch_runs / seconds, accuracy, agreement)


def compatibility(path: Path) -> str:
    """Whether tflite-runtime 2.14 runs the file, and the op it lacks when it does not."""
    try:
        result = check(path, "tflite-runtime")
    except BadInput as exc:
        return f"not checked: {exc}"
    if result.ok:
        return "runs"
    op = re.search(r"opcode '(\w+)' version '(\d+)'", result.reason)
    if op:
        return f"no: {op[1]} v{op[2]}"
    if result.flex_ops:
        return f"no: Flex ops {', '.join(result.flex_ops)}"
    return "no: " + result.reason.splitlines()[0][:60]


def run(name: str, models_dir: Path, threads: int, runs: int, batch_runs: int):
    quiet_import_tensorflow()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras

    with native_stderr():  # the CUDA probe's "failed call to cuInit" line on CPU-only machines
        tf.config.list_physical_devices()

    layout = Layout(models_dir, name)
    info = ModelInfo.read(layout.keras_dir / "metadata.json")
    version = layout.latest_version()
    if version is None:
        raise BadInput(f"no SavedModel under {layout.serving_base}: run `make all` first")
    golden = read_golden(layout.golden_dir)
    rows = []
    for target in [t for t in TARGETS.values() if t.family == "tflite"]:
        path = target.path(layout, version)
        if not path.is_file():
            raise BadInput(f"no {path}: run `make all` first")
        model = TfliteModel(path, "litert", threads)
        row = measure(target.name, "litert", size_of(path), model, golden, runs, batch_runs)
        row.tflite_runtime = compatibility(path)
        rows.append(row)

    savedmodel = layout.version_dir(version)
    signature = tf.saved_model.load(str(savedmodel)).signatures[SERVING_SIGNATURE]

    def call_signature(x):
        return signature(**{info.input_name: tf.constant(x)})[info.output_name].numpy()

    rows.append(
        measure(
            "savedmodel",
            "tf-signature",
            size_of(savedmodel),
            call_signature,
            golden,
            runs,
            batch_runs,
        )
    )
    reference = keras.saving.load_model(layout.keras_model, compile=False)

    def call_keras(x):
        return np.asarray(reference(x, training=False))

    rows.append(
        measure(
            "keras", "model(x)", size_of(layout.keras_model), call_keras, golden, runs, batch_runs
        )
    )
    versions = {"litert": version_of("litert"), "tensorflow": tf.__version__}
    versions["keras"] = keras.__version__
    return layout, info, rows, versions


def check_targets(rows: list[Row]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of the figures above."""
    by = {r.target: r for r in rows}
    fp32, int8, keras_row = by["tflite-fp32"], by["tflite-int8"], by["keras"]
    share = int8.bytes / fp32.bytes
    result = [
        (
            f"int8 size ≤ {MAX_INT8_SIZE_SHARE:.0%} of fp32",
            f"{share:.1%} ({int8.bytes / 1024:.1f} KB of {fp32.bytes / 1024:.1f} KB)",
            share <= MAX_INT8_SIZE_SHARE,
        )
    ]
    if fp32.accuracy is not None and int8.accuracy is not None:
        drop = fp32.accuracy - int8.accuracy
        result.append(
            (
                f"int8 accuracy within {MAX_INT8_ACCURACY_DROP * 100:.0f} points of fp32",
                f"{int8.accuracy:.2%} vs {fp32.accuracy:.2%} ({drop * 100:+.2f} points)",
                abs(drop) <= MAX_INT8_ACCURACY_DROP,
            )
        )
    speedup = keras_row.p50_ms / fp32.p50_ms
    result.append(
        (
            f"fp32 p50 ≥ {MIN_FP32_SPEEDUP_OVER_KERAS:.0f}x faster than Keras model(x)",
            f"{speedup:.0f}x ({fp32.p50_ms:.4f} ms vs {keras_row.p50_ms:.3f} ms)",
            speedup >= MIN_FP32_SPEEDUP_OVER_KERAS,
        )
    )
    return result


def tables(name: str, rows: list[Row], checks) -> tuple[Table, Table]:
    """The measurements, each row against the Keras and SavedModel calls; the targets."""
    by = {r.target: r for r in rows}
    keras_row, saved = by["keras"], by["savedmodel"]
    measured = Table(
        f"bench-edge: {name}",
        [
            Column("target", "left"),
            Column("runtime", "left"),
            *map(Column, ("KB", "p50 ms", "p99 ms", "p50 vs Keras", "p50 vs SavedModel")),
            *map(Column, (f"samples/s @{BATCH}", "samples/s vs Keras", "accuracy", "agreement")),
            Column("tflite-runtime 2.14", "left"),
        ],
    )
    for r in rows:
        measured.add(
            r.target,
            r.runtime,
            f"{r.bytes / 1024:.1f}",
            f"{r.p50_ms:.4f}",
            f"{r.p99_ms:.4f}",
            f"{keras_row.p50_ms / r.p50_ms:.1f}x",
            f"{saved.p50_ms / r.p50_ms:.1f}x",
            f"{r.throughput:,.0f}",
            f"{r.throughput / keras_row.throughput:.1f}x",
            "-" if r.accuracy is None else f"{r.accuracy:.2%}",
            f"{r.agreement:.2%}",
            r.tflite_runtime,
        )
    verdicts = Table(
        "targets", [Column("target", "left"), Column("measured", "left"), Column("result", "left")]
    )
    for target, value, ok in checks:
        verdicts.add(target, value, "met" if ok else "MISSED", strong=not ok)
    return measured, verdicts


def render(
    name: str, measured: Table, verdicts: Table, versions, threads: int, runs: int, commit: str
) -> str:
    lines = [
        "# bench-edge",
        "",
        f"`{name}` (built from commit `{commit}`) on its golden set, {threads} thread(s) on "
        f"{os.cpu_count()} cores; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f". Latency: {runs} single-sample calls after a warm-up; throughput: batches of {BATCH}. "
        "The vs columns say how many times faster than the Keras `model(x)` call and the "
        "SavedModel `serving_default` signature call a row is. Accuracy is on the golden labels, "
        "agreement is top-1 agreement with the Keras reference outputs. TFLite rows run in LiteRT "
        "through `mobile.TfliteModel` (quantizing int8 inputs and dequantizing outputs included); "
        "the last column is `python -m mobile check MODEL --runtime tflite-runtime`.",
        "",
        measured.markdown(),
        "",
        verdicts.markdown(),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__)
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})"
    )
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    parser.add_argument("--threads", type=int, default=1, help="threads for every runtime")
    parser.add_argument("--runs", type=int, default=300, help="single-sample calls timed")
    parser.add_argument("--batch-runs", type=int, default=50, help=f"batches of {BATCH} timed")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if min(args.threads, args.runs, args.batch_runs) < 1:
            raise BadInput("--threads, --runs and --batch-runs must be at least 1")
        start = time.perf_counter()
        layout, info, rows, versions = run(
            args.name, args.models_dir.resolve(), args.threads, args.runs, args.batch_runs
        )
    except (BadInput, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    checks = check_targets(rows)
    measured, verdicts = tables(args.name, rows, checks)
    measured.print()
    verdicts.print()
    text = render(
        args.name, measured, verdicts, versions, args.threads, args.runs, info.source_commit
    )
    path = write_report(layout.reports_dir, "edge", text)
    print(f"wrote {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
