"""Report: report.md and report.html with PNG plots, written beside the manifest.

python -m pipeline report --name digits
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from pipeline.data import read_golden
from pipeline.layout import Layout

COLUMNS = (
    "target",
    "runtime",
    "where",
    "accuracy",
    "agreement",
    "max |Δ|",
    "p50 ms",
    "KB",
    "gate",
    "result",
)


def table_rows(manifest: dict) -> list[list[str]]:
    rows = []
    for art in manifest["artifacts"]:
        for v in art["verification"]:
            rows.append(
                [
                    art["target"],
                    v["runtime"],
                    v["where"],
                    _pct(v.get("accuracy")),
                    _pct(v.get("top1_agreement")),
                    _num(v.get("max_abs_diff")),
                    _num(v.get("p50_ms"), ".3f"),
                    f"{art['bytes'] / 1024:.1f}",
                    v.get("gate", ""),
                    _result(v),
                ]
            )
    return rows


def _result(v: dict) -> str:
    if v["passed"]:
        return "pass"
    if not v.get("gating", True):  # an advisory runtime too old for the file: reported only
        return f"not supported (does not gate): {v['reason']}"
    if not v.get("supported", True):
        return f"not supported: {v['reason']}"
    return f"FAIL: {v['reason']}"


OUTCOME_COLUMNS = ("target", "outcome", "published", "reason")


def outcome_rows(manifest: dict) -> list[list[str]]:
    """One row per target: verified, not supported or missed gate, and whether it was published."""
    return [
        [a["target"], a["outcome"], "yes" if a["published"] else "no", a["reason"]]
        for a in manifest["artifacts"]
        if "outcome" in a
    ]


def compatibility(manifest: dict) -> tuple[list[str], list[list[str]]]:
    """Target by runtime: each cell is verified, not supported (the reason) or missed gate (the
    figures); a target the converter could not make says so once, in its outcome."""
    runtimes: list[str] = []
    for art in manifest["artifacts"]:
        for v in art["verification"]:
            if v["runtime"] not in runtimes:
                runtimes.append(v["runtime"])
    notes = {c["target"]: c.get("note") for c in manifest.get("conversions", [])}
    rows = []
    for art in manifest["artifacts"]:
        by_runtime = {v["runtime"]: v for v in art["verification"]}
        cells = [_cell(by_runtime[r]) if r in by_runtime else "" for r in runtimes]
        converted = art["verification"] or art.get("outcome") != "not supported"
        outcome = art.get("outcome", "")
        if not converted:
            outcome = f"not supported (conversion): {art.get('reason', '')}"
        elif notes.get(art["target"]):  # converted in an unusual way: say how
            outcome += f" ({notes[art['target']]})"
        rows.append([art["target"], outcome, *cells])
    return ["target", "outcome", *runtimes], rows


def _cell(v: dict) -> str:
    if v["passed"]:
        figure = v.get("top1_agreement")
        shown = (
            f"agree {figure:.1%}" if figure is not None else f"max|Δ| {_num(v.get('max_abs_diff'))}"
        )
        return f"verified ({shown})"
    if not v.get("supported", True):
        return f"not supported: {v['reason']}"
    return f"missed gate: {v['reason']}"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.2%}"


def _num(x, fmt: str = ".2e") -> str:
    return "-" if x is None else format(x, fmt)


def plot_training(training: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for trainer, summary in training["trainers"].items():
        h = summary["history"]
        epochs = range(1, len(h["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            ax.plot(epochs, h[key], label=f"{trainer} train")
            ax.plot(epochs, h[f"val_{key}"], "--", label=f"{trainer} validation")
    for ax, title in zip(axes, ("loss", "accuracy"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_confusion(labels: np.ndarray, reference: np.ndarray, classes, out: Path) -> None:
    import matplotlib.pyplot as plt

    n = reference.shape[1]
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (labels, reference.argmax(1)), 1)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=8, color=color)
    names = classes or [str(i) for i in range(n)]
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted (Keras reference)")
    ax.set_ylabel("true label")
    ax.set_title(f"confusion on the golden set ({len(labels)} samples)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_targets(manifest: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    rows = [
        (f"{a['target']}\n{v['runtime']}", a["bytes"] / 1024, v, v["passed"])
        for a in manifest["artifacts"]
        for v in a["verification"]
        if v.get("p50_ms") is not None
    ]
    if not rows:
        return
    labels = [r[0] for r in rows]
    colors = ["tab:green" if r[3] else "tab:red" for r in rows]
    metric = "accuracy" if rows[0][2].get("accuracy") is not None else "top1_agreement"
    panels = (
        ("size (KB)", [r[1] for r in rows]),
        (metric.replace("_", " "), [(r[2].get(metric) or 0) * 100 for r in rows]),
        ("p50 latency, one sample (ms, log scale)", [r[2]["p50_ms"] for r in rows]),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(rows) + 1.6), sharey=True)
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.barh(labels, values, color=colors)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        if "accuracy" in title or "agreement" in title:
            ax.set_xlim(max(0, min(values) - 5), 100.5)
        if "latency" in title:
            ax.set_xscale("log")  # runtimes differ by 100x and more
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:.3g}", va="center", fontsize=7)
    axes[0].invert_yaxis()
    axes[0].tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_report(layout: Layout, manifest: dict) -> Path:
    """report.md, report.html and their plots in models/reports/<name>/."""
    import matplotlib

    matplotlib.use("Agg")
    out = layout.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    if manifest.get("training"):
        plot_training(manifest["training"], out / "training.png")
        plots.append(("Training curves, both trainers", "training.png"))
    golden = read_golden(layout.golden_dir)
    labelled = [
        k
        for k, ref in golden.reference.items()
        if k in golden.labels and ref.ndim == 2 and ref.shape[1] > 1
    ]
    if labelled:  # the first labelled classification output
        first = labelled[0]
        names = manifest.get("class_names") if first == _first_output(manifest) else None
        plot_confusion(golden.labels[first], golden.reference[first], names, out / "confusion.png")
        title = "Confusion matrix of the Keras reference"
        plots.append(
            (title if len(golden.reference) == 1 else f"{title}: {first}", "confusion.png")
        )
    plot_targets(manifest, out / "targets.png")
    if (out / "targets.png").exists():
        plots.append(("Size, accuracy and latency per target and runtime", "targets.png"))
    sections = _sections(manifest)
    (out / "report.md").write_text(_markdown(manifest, sections, plots))
    (out / "report.html").write_text(_html(manifest, sections, plots))
    return out / "report.html"


def _first_output(manifest: dict) -> str | None:
    outputs = manifest.get("outputs") or [{}]
    return outputs[0].get("name")


def signature_rows(manifest: dict) -> list[list[str]]:
    """The serving signature: each input and output with its dtype and shape."""
    rows = []
    for kind in ("inputs", "outputs"):
        for t in manifest.get(kind, []):
            rows.append([kind[:-1], t["name"], t["dtype"], shape_text(t["shape"])])
    return rows


def shape_text(shape: list) -> str:
    """[N, 16, 3]: a signature shape with N for the batch and any other free dimension."""
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _training_section(training: dict) -> tuple[str, list[str], list[list[str]]]:
    """The trainers side by side; a distributed run adds workers, time per step and the
    all-reduce's part of it (timed alone, on tensors shaped like the gradients)."""
    trainers = training["trainers"]
    header = ["trainer", "test accuracy", "epochs", "s / epoch", "lines of code"]
    rows = [
        [
            t + (" (exported)" if t == training["exported"] else ""),
            f"{s['test_accuracy']:.2%}",
            str(s["epochs"]),
            f"{s['seconds_per_epoch']:.2f}",
            str(s["lines_of_code"]),
        ]
        for t, s in trainers.items()
    ]
    if not any("distributed" in s for s in trainers.values()):
        return "Keras fit vs TensorFlow GradientTape loop", header, rows
    header += ["workers", "batch", "ms / step", "all-reduce ms / step", "resumed at step"]
    for row, s in zip(rows, trainers.values(), strict=True):
        d = s.get("distributed") or {}
        row += [
            str(d.get("workers", 1)),
            str(s.get("batch_size", "")),
            f"{s.get('seconds_per_step', 0) * 1000:.1f}",
            f"{d['allreduce_ms']:.1f}" if d else "0 (none)",
            str(d["resumed_from"]["step"]) if d.get("resumed_from") else "",
        ]
    workers = max((s.get("distributed") or {}).get("workers", 1) for s in trainers.values())
    return f"Training on one worker and on {workers}", header, rows


def _sections(manifest: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table in the report."""
    sections = [
        ("Signature", ["", "name", "dtype", "shape"], signature_rows(manifest)),
        ("Targets", list(OUTCOME_COLUMNS), outcome_rows(manifest)),
        ("Compatibility: target by runtime", *compatibility(manifest)),
        ("Verification on the golden set", list(COLUMNS), table_rows(manifest)),
    ]
    if manifest.get("training"):
        sections.append(_training_section(manifest["training"]))
    timings = manifest.get("timings_s", {})
    if timings:
        sections.append(
            (
                "Seconds per stage",
                ["stage", "seconds"],
                [[k, f"{v:.1f}"] for k, v in timings.items()],
            )
        )
    return sections


def _markdown(manifest, sections, plots) -> str:
    status = "PASSED" if manifest["passed"] else "FAILED"
    lines = [
        f"# {manifest['model']} v{manifest['version']}: {status}",
        "",
        f"Built {manifest['created']} from commit `{manifest['source_commit']}`. "
        "Benchmarks: [bench.md](bench.md).",
        "",
    ]
    for title, header, rows in sections:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.append("")
    for title, file in plots:
        lines += [f"## {title}", "", f"![{title}]({file})", ""]
    return "\n".join(lines)


def _html(manifest, sections, plots) -> str:
    status = "PASSED" if manifest["passed"] else "FAILED"
    esc = html.escape
    body = [
        f"<h1>{esc(manifest['model'])} v{manifest['version']} "
        f'<span class="badge {status.lower()}">{status}</span></h1>',
        f"<p>Built {esc(manifest['created'])} from commit <code>{esc(manifest['source_commit'])}</code>. "
        '<a href="bench.md">Benchmarks</a>, <a href="manifest.json">manifest</a>.</p>',
    ]
    for title, header, rows in sections:
        body.append(f"<h2>{esc(title)}</h2><table><tr>")
        body.append("".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        for row in rows:
            failed = row[-1].startswith("FAIL") or "missed gate" in row
            cls = ' class="fail"' if failed else ""
            body.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        body.append("</table>")
    for title, file in plots:
        body.append(f'<h2>{esc(title)}</h2><img src="{file}" alt="{esc(title)}">')
    style = (
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}"
        "table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .5rem}"
        "th{background:#f3f3f3}tr.fail td{background:#fde8e8}img{max-width:100%}"
        ".badge{padding:.1rem .5rem;border-radius:.3rem;color:#fff;font-size:1rem}"
        ".passed{background:#2a7d2a}.failed{background:#b02a2a}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(manifest["model"])} report</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
