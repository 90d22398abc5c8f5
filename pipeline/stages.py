"""The flow's stages, each taking its inputs and output layout explicitly, and the gated run.

`run` builds everything in models/.staging/, verifies it there, and publishes only what passed:
a failed gate leaves the published models untouched and keeps the evidence in models/.failed/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from pipeline import artifacts, ui
from pipeline.config import CALIBRATION_SAMPLES, PipelineConfig
from pipeline.convert import Conversion, ConvertContext
from pipeline.data import (
    DIGITS_NORMALIZATION,
    Golden,
    load_digits,
    load_samples,
    read_calibration,
    read_golden,
    write_calibration,
    write_golden,
)
from pipeline.errors import GateFailure, UserError
from pipeline.export import prune_versions, write_models_config, write_version
from pipeline.layout import GROUPS, Layout, publish, staging
from pipeline.manifest import build_manifest, write_manifest
from pipeline.metadata import ModelInfo
from pipeline.outcomes import VERIFIED, Outcome, blocking, outcomes
from pipeline.targets import TARGETS, converted
from pipeline.verify import Verification, verify_all


@dataclass
class RunResult:
    version: int
    manifest: dict
    rows: list[Verification]
    published: bool
    outcomes: dict[str, Outcome]
    blocking: list[Outcome]  # required targets that were not verified: nothing was published
    kept_at: Path | None = None  # where a failed run's artifacts and report were kept


def save_reference(
    model, info: ModelInfo, layout: Layout, inputs, labels, training: dict | None, calibration
):
    """The Keras model, its metadata, the golden set with the model's own outputs on it, and the
    calibration inputs int8 conversion needs (so `convert` can run again without the data)."""
    from pipeline.runtimes.base import in_batches
    from pipeline.runtimes.keras_model import call_keras

    layout.keras_dir.mkdir(parents=True, exist_ok=True)
    model.save(layout.keras_model)
    info.write(layout.keras_dir / "metadata.json")
    artifacts.describe(TARGETS["keras"], layout.keras_model, info)
    if training is not None:
        (layout.keras_dir / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    reference = in_batches(lambda batch: call_keras(model, info, batch), inputs)
    write_golden(layout.golden_dir, info, inputs, labels, reference)
    write_calibration(layout.golden_dir, calibration, CALIBRATION_SAMPLES)


def train_stage(cfg: PipelineConfig, layout: Layout, logs_dir: Path, timings: dict):
    """Train with the chosen trainer (and the other one, for comparison); save the reference.

    With a cluster (TF_CONFIG), the chosen trainer is the TF loop on every worker at once, and the
    comparison is the same loop in this process alone.
    """
    from pipeline.train import TRAINERS, train

    mwms = _join(cfg, timings) if cfg.cluster is not None else None
    with ui.step("load data", timings):
        data = load_digits(cfg.train.seed, cfg.train.val_fraction, cfg.train.test_fraction)
    results = {}
    if mwms is not None:
        results.update(_train_on_workers(cfg, mwms, data, logs_dir, timings))
        order = ["tf"] if cfg.compare_trainers else []
    else:
        order = [cfg.trainer] + (
            [t for t in TRAINERS if t != cfg.trainer] if cfg.compare_trainers else []
        )
    for trainer in order:
        with ui.step(f"train ({trainer})", timings):
            results[trainer] = train(trainer, data, cfg.train, logs_dir / trainer)
    for label, result in results.items():
        if result.test_accuracy < cfg.train.min_accuracy:
            raise GateFailure(
                f"the {label} trainer reached {result.test_accuracy:.2%} test accuracy, "
                f"below the {cfg.train.min_accuracy:.0%} bar"
            )
    exported = next(iter(results)) if cfg.cluster is not None else cfg.trainer
    chosen = results[exported]
    info = ModelInfo.from_keras(chosen.model, cfg.name, data.class_names, DIGITS_NORMALIZATION)
    training = {"exported": exported, "trainers": {t: r.summary() for t, r in results.items()}}
    return chosen.model, info, data, training


def _join(cfg: PipelineConfig, timings: dict):
    """The cluster's strategy, made first: collective ops are set up before TensorFlow runs."""
    from pipeline import distributed

    with ui.step(f"join {cfg.cluster.size} workers as worker {cfg.cluster.index}", timings):
        return distributed.strategy(cfg.cluster)


def _train_on_workers(cfg: PipelineConfig, mwms, data, logs_dir: Path, timings: dict) -> dict:
    """The TF loop on every worker of the cluster; the workers' weights must be equal after it."""
    from pipeline import distributed

    cluster = cfg.cluster
    checkpoints = Layout(cfg.models_dir, cfg.name).checkpoints_dir
    title = f"train (tf, {cluster.size} workers)"
    with ui.step(title, timings), ui.progress() as bar:
        task = bar.add_task(title, total=cfg.train.epochs, status="")

        def on_epoch(epoch: int, logs: dict) -> None:
            status = f"val_acc {logs['val_accuracy']:.3f} val_loss {logs['val_loss']:.3f}"
            bar.update(task, completed=epoch + 1, status=status)

        result = distributed.train_workers(
            mwms, cluster, data, cfg.train, checkpoints, logs_dir / "tf-workers", on_epoch
        )
        bar.update(task, total=result.epochs, completed=result.epochs)
    distributed.finish(checkpoints, cluster)
    hashes = result.distributed["weights_sha256"]
    if len(set(hashes)) != 1:
        raise GateFailure(f"the workers' weights differ after training: sha256 {hashes}")
    ui.console.print(
        f"  workers' weights equal: sha256 {hashes[0][:16]}… on all {cluster.size}; "
        + (
            f"resumed from step {result.distributed['resumed_from']['step']}; "
            if result.distributed["resumed_from"]
            else ""
        )
        + f"all-reduce {result.distributed['allreduce_ms']:.2f} ms"
    )
    return {result.label: result}


def work_as_peer(cfg: PipelineConfig) -> NoReturn:
    """A worker other than the chief: train with the others, check the hashes, exit. The chief
    exports and publishes."""
    mwms = _join(cfg, {})
    data = load_digits(cfg.train.seed, cfg.train.val_fraction, cfg.train.test_fraction)
    _train_on_workers(cfg, mwms, data, Layout(cfg.models_dir, cfg.name).logs_dir, {})
    ui.console.print(f"worker {cfg.cluster.index}: trained; the chief (worker 0) publishes")
    leave_cluster(0)


def leave_cluster(code: int) -> NoReturn:
    """Exit at once. At a normal exit, TensorFlow's coordination service holds each process of the
    job in a shutdown barrier until every other one reaches it, and logs an error when one never
    does (a worker left long before the chief). Everything was written and closed by now."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def convert_stage(
    info: ModelInfo, savedmodel: Path, reference: Path, layout: Layout, timings: dict
) -> list[Conversion]:
    """Convert `savedmodel` to every target, writing into `layout` (calibration from its golden dir).

    A target that cannot take the model is recorded with the converter's words; the others go on.
    """
    ctx = ConvertContext(savedmodel, info, read_calibration(layout.golden_dir), reference)
    conversions = []
    with ui.step("convert", timings):
        for target in converted():
            out = target.path(layout, info.version)
            result = target.converter.run(target.name, ctx, out)
            if result.ok:
                artifacts.describe(target, out, info)
                note = f"; {result.note}" if result.note else ""
                ui.console.print(f"  [green]✓[/] {target.name} ({result.seconds:.1f} s{note})")
            else:
                ui.console.print(f"  [yellow]✗[/] {target.name}: not supported: {result.reason}")
            conversions.append(result)
    return conversions


def verify_stage(
    cfg: PipelineConfig,
    layout: Layout,
    version: int,
    info: ModelInfo,
    golden: Golden,
    conversions: list[Conversion],
    timings: dict,
) -> list[Verification]:
    # a target whose conversion failed has no file to run: its outcome already says why
    targets = ["keras", "savedmodel"] + [c.target for c in conversions if c.ok]
    with ui.step("verify", timings), ui.progress() as bar:
        rows = sum(len(TARGETS[t].runtimes) for t in targets)
        task = bar.add_task("verify", total=rows, status="")

        def on_row(row):
            mark = "[green]pass[/]" if row.passed else f"[red]FAIL[/] {row.reason}"
            if not row.passed and not row.gating:
                mark = f"[yellow]not supported[/] {row.reason}"
            bar.update(task, advance=1, status=f"{row.target}/{row.runtime}: {mark}")

        return verify_all(
            layout, version, info, golden, cfg.gates, targets, cfg.latency_runs, on_row
        )


def publish_run(stage: Layout, dest: Layout, version: int, keep: int) -> None:
    """Move a verified staging tree into models/, then retire old versions and name the models."""
    if dest.reports_dir.is_dir() and stage.reports_dir.is_dir():
        for bench in dest.reports_dir.glob("bench*.md"):  # benchmarks outlive a run's report
            shutil.copy2(bench, stage.reports_dir / bench.name)
    publish(stage, dest, GROUPS, version)
    prune_versions(dest, keep)
    write_models_config(dest.serving_root)


def run(
    cfg: PipelineConfig,
    model_path: Path | None = None,
    samples_path: Path | None = None,
) -> RunResult:
    """Train (or take the user's model), export, convert, verify, report, and publish if passed."""
    dest = Layout(cfg.models_dir, cfg.name)
    timings: dict[str, float] = {}
    if model_path is not None:  # a model or samples that do not fit are refused before any write
        user = _user_model(model_path, samples_path, cfg.name)
    with staging(cfg.models_dir, cfg.name, on_wait=ui.waiting) as stage:
        version = (dest.latest_version() or 0) + 1  # runs of one name take turns: no collision
        if model_path is None:
            model, info, data, training = train_stage(cfg, stage, dest.logs_dir, timings)
            inputs, labels = digits_arrays(info, data.test)
            calibration = digits_arrays(info, data.train)[0]
        else:
            model, info, inputs, labels = user
            calibration, training = inputs, None
        info = replace(info, version=version)
        with ui.step("export", timings):
            save_reference(model, info, stage, inputs, labels, training, calibration)
            write_version(model, info, stage, version, inputs)
        savedmodel = stage.version_dir(version)
        conversions = convert_stage(info, savedmodel, stage.keras_model, stage, timings)
        golden = read_golden(stage.golden_dir)
        rows = verify_stage(cfg, stage, version, info, golden, conversions, timings)
        results = outcomes(conversions, rows)
        blocked = blocking(results, cfg.required)
        manifest = build_manifest(
            stage, version, info, rows, conversions, training, timings, cfg.gates, results, blocked
        )
        with ui.step("report", timings):
            from pipeline.report import write_report

            write_manifest(stage.manifest, manifest)
            write_report(stage, manifest)
        if blocked:
            kept = _keep_failed(stage.root, cfg.models_dir, cfg.name, version)
            reports = kept / "reports" / cfg.name
            return RunResult(version, manifest, rows, False, results, blocked, reports)
        for name, result in results.items():  # what was not verified is not published
            if result.status != VERIFIED:
                artifacts.withdraw(TARGETS[name], TARGETS[name].path(stage, version))
        publish_run(stage, dest, version, cfg.keep_versions)
        return RunResult(version, manifest, rows, True, results, [])


def _keep_failed(stage_root: Path, models_dir: Path, name: str, version: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = models_dir / ".failed" / f"{name}-v{version}-{stamp}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    stage_root.rename(kept)
    return kept


def digits_arrays(info: ModelInfo, split) -> tuple[dict, dict]:
    """A digits split as the golden set holds any model's samples: arrays by input and output."""
    return {info.input_name: split.x}, {info.output_name: split.y}


def _user_model(model_path: Path, samples_path: Path | None, name: str):
    """A user's Keras model and samples: names, dtypes and shapes come from the model."""
    import keras

    if samples_path is None:
        raise UserError("--samples is required with --model (inputs to verify every target on)")
    if not model_path.is_file():
        raise UserError(f"model file not found: {model_path}")
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as exc:
        raise UserError(f"{model_path}: not a loadable Keras model: {_load_error(exc)}") from None
    info = ModelInfo.from_keras(model, name)
    inputs, labels = load_samples(samples_path, info)
    return model, info, inputs, labels


def _load_error(exc: BaseException) -> str:
    """What Keras's loader really objects to, in a sentence (its messages run to pages)."""
    text = " ".join(str(exc).split())
    if "Exception encountered:" in text:  # the nested cause: an unknown class, a bad config
        text = text.split("Exception encountered:", 1)[1].strip()
    sentence = text.split(". ", 1)[0].rstrip(".")
    if "Lambda" in sentence:
        sentence += " (models are loaded in Keras's safe mode: use a built-in or registered layer)"
    elif "Could not locate" in sentence:
        sentence += (
            " (custom classes must be registered with keras.saving.register_keras_serializable)"
        )
    return sentence[:300] or type(exc).__name__
