"""What each CLI command does; every writer builds in models/.staging and publishes when done."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import numpy as np
from rich.table import Table

from pipeline import stages, ui
from pipeline.config import Gate, PipelineConfig
from pipeline.convert import Conversion
from pipeline.data import conform, load_input_file, load_samples, read_golden
from pipeline.errors import UserError
from pipeline.layout import Layout, publish, staging
from pipeline.manifest import build_manifest, read_manifest, write_manifest
from pipeline.metadata import ModelInfo
from pipeline.outcomes import MISSED_GATE, NOT_SUPPORTED, VERIFIED, blocking, outcomes
from pipeline.report import COLUMNS, OUTCOME_COLUMNS, outcome_rows, table_rows, write_report
from pipeline.targets import TARGETS, converted


def _published(cfg: PipelineConfig) -> tuple[Layout, ModelInfo]:
    layout = Layout(cfg.models_dir, cfg.name)
    meta = layout.keras_dir / "metadata.json"
    if not meta.is_file():
        known = sorted(p.name for p in (cfg.models_dir / "keras").glob("*") if p.is_dir())
        hint = f" (known: {', '.join(known)})" if known else ": run `make all` first"
        raise UserError(f"no model named {cfg.name!r} in {cfg.models_dir}{hint}")
    return layout, ModelInfo.read(meta)


def _version(layout: Layout, wanted: int | None) -> int:
    versions = layout.versions()
    if not versions:
        raise UserError(f"no SavedModel versions under {layout.serving_base}: run `make all` first")
    if wanted is None:
        return versions[-1]
    if wanted not in versions:
        raise UserError(f"version {wanted} not found; available: {versions}")
    return wanted


OUTCOME_STYLES = {VERIFIED: None, NOT_SUPPORTED: "yellow", MISSED_GATE: "red"}


def print_summary(manifest: dict) -> None:
    table = Table(title=f"{manifest['model']} v{manifest['version']}: verification")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for row in table_rows(manifest):
        style = None if row[-1] == "pass" else "yellow" if row[-1].startswith("not") else "red"
        table.add_row(*row, style=style)
    ui.out.print(table)
    table = Table(title="targets")
    for column in OUTCOME_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in outcome_rows(manifest):
        table.add_row(*row, style=OUTCOME_STYLES[row[1]])
    ui.out.print(table)


def run(cfg: PipelineConfig, args) -> int:
    if cfg.cluster is not None and not cfg.cluster.chief:
        stages.work_as_peer(cfg)
    start = time.perf_counter()
    result = stages.run(cfg, args.model, args.samples)
    print_summary(result.manifest)
    layout = Layout(cfg.models_dir, cfg.name)
    if not result.published:
        names = ", ".join(f"{b.target} ({b.status})" for b in result.blocking)
        ui.console.print(
            f"[bold red]FAILED[/]: required target(s) not verified: {names}; nothing was "
            f"published. Evidence kept in {result.kept_at}"
        )
        return 1
    left_out = [o for o in result.outcomes.values() if o.status != VERIFIED]
    ui.console.print(
        f"[bold green]published[/] {cfg.name} v{result.version} in {time.perf_counter() - start:.0f} s; "
        f"report: {layout.reports_dir / 'report.html'}"
    )
    if left_out:
        names = ", ".join(f"{o.target} ({o.status})" for o in left_out)
        ui.console.print(f"[yellow]left out of v{result.version}[/]: {names}")
    return 0


def train(cfg: PipelineConfig, args) -> int:
    if cfg.cluster is not None and not cfg.cluster.chief:
        stages.work_as_peer(cfg)
    dest = Layout(cfg.models_dir, cfg.name)
    with staging(cfg.models_dir, cfg.name, on_wait=ui.waiting) as stage:
        model, info, data, training = stages.train_stage(cfg, stage, dest.logs_dir, {})
        inputs, labels = stages.digits_arrays(info, data.test)
        calibration = stages.digits_arrays(info, data.train)[0]
        stages.save_reference(model, info, stage, inputs, labels, training, calibration)
        publish(stage, dest, ("keras", "golden"))
    ui.console.print(f"saved {dest.keras_model} and the golden set in {dest.golden_dir}")
    return 0


def export(cfg: PipelineConfig, args) -> int:
    import keras

    from pipeline.export import prune_versions, publish_version, write_models_config

    layout, info = _published(cfg)
    model = keras.saving.load_model(layout.keras_model, compile=False)
    golden = read_golden(layout.golden_dir)
    path = publish_version(model, info, layout, None, golden.inputs)
    prune_versions(layout, cfg.keep_versions)
    write_models_config(layout.serving_root)
    ui.console.print(f"exported {path}")
    return 0


def convert(cfg: PipelineConfig, args) -> int:
    layout, info = _published(cfg)
    version = _version(layout, args.version)
    info = replace(info, version=version)
    with staging(cfg.models_dir, cfg.name, on_wait=ui.waiting) as stage:
        # read the published SavedModel, write into the staging tree, then swap the groups in
        shutil.copytree(layout.golden_dir, stage.golden_dir)
        savedmodel = layout.version_dir(version)
        conversions = stages.convert_stage(info, savedmodel, layout.keras_model, stage, {})
        publish(stage, layout, {t.family for t in converted()})
    failed = [c.target for c in conversions if not c.ok and c.target in cfg.required]
    return 1 if failed else 0


def verify(cfg: PipelineConfig, args) -> int:
    layout, info = _published(cfg)
    version = _version(layout, args.version)
    info = replace(info, version=version)
    golden = read_golden(layout.golden_dir)
    previous = read_manifest(layout.manifest) if layout.manifest.is_file() else {}
    if not cfg.gates and previous.get("gate_settings"):  # the model's own gates, from its run
        gates = {name: Gate(**doc) for name, doc in previous["gate_settings"].items()}
        cfg = replace(cfg, gates=gates)
    conversions = [Conversion.from_dict(c) for c in previous.get("conversions", [])] or [
        Conversion(t.name, ok=True) for t in converted()
    ]
    timings: dict[str, float] = {}
    rows = stages.verify_stage(cfg, layout, version, info, golden, conversions, timings)
    results = outcomes(conversions, rows)
    blocked = blocking(results, cfg.required)
    training = previous.get("training")
    manifest = build_manifest(
        layout, version, info, rows, conversions, training, timings, cfg.gates, results, blocked
    )
    write_manifest(layout.manifest, manifest)
    print_summary(manifest)
    return 0 if manifest["passed"] else 1


def report(cfg: PipelineConfig, args) -> int:
    layout = Layout(cfg.models_dir, cfg.name)
    path = write_report(layout, read_manifest(layout.manifest))
    ui.console.print(f"wrote {path}")
    return 0


def predict(cfg: PipelineConfig, args) -> int:
    from pipeline.runtimes import RUNTIMES

    target = TARGETS[args.target]  # a known name: config_from checked it
    layout, info = _published(cfg)
    version = _version(layout, args.version)
    path = target.path(layout, version)
    if not path.exists():
        raise UserError(f"no {args.target} artifact at {path}: run `make all` first")
    inputs = load_inputs(args.input, info)
    runtime = RUNTIMES[target.runtimes[0]]
    try:
        outputs = runtime.run(path, info, inputs, latency_runs=1).outputs
    except Exception as exc:
        raise UserError(f"{args.target} could not run {path}: {str(exc).splitlines()[0]}") from None
    for name, values in outputs.items():
        if len(outputs) > 1:
            print(f"{name}:")
        print_output(values, info.class_names if name == info.output_name else None, args.top)
    return 0


def load_inputs(path, info: ModelInfo) -> dict[str, np.ndarray]:
    """An .npz with one array per input (any model), or a PNG/JPEG or .npy (one input)."""
    if path.suffix.lower() == ".npz":
        return load_samples(path, info)[0]
    if len(info.inputs) > 1:
        names = ", ".join(t.name for t in info.inputs)
        raise UserError(
            f"the model takes several inputs ({names}): give an .npz with one array each"
        )
    x = load_input_file(path, tuple(info.input_shape))
    return {info.input_name: conform(x, info.inputs[0], str(path))}


def print_output(values: np.ndarray, class_names: list[str] | None, top: int) -> None:
    """Per sample: the top classes of a classification output, else the values."""
    rows = values.reshape(len(values), -1)
    classes = values.ndim == 2 and values.shape[1] > 1
    names = class_names or [str(i) for i in range(rows.shape[1])]
    for i, row in enumerate(rows):
        prefix = f"[{i}] " if len(rows) > 1 else ""
        if classes:
            best = np.argsort(row)[::-1][:top]
            print(prefix + "  ".join(f"{names[k]}: {row[k]:.4f}" for k in best))
        else:
            print(prefix + "  ".join(f"{v:.6g}" for v in row))
