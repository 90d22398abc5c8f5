"""bench-web: each model's page in headless Chromium from localhost, per TF.js backend.

python -m bench.web --name digits    # every model in web/dist with a TF.js model, digits first;
                                     # writes models/reports/<model>/bench-web.md (and bench.md)
python -m bench.web --name digits --models digits,zoo-tabular

For each model and each backend (wasm, cpu, webgl) that runs it: model load time from the
network (a fresh profile, so no IndexedDB copy) and from the IndexedDB cache (a reload), time
from navigation to the first prediction on the page, and single-input p50/p99 of the page's own
predict cycling through the golden inputs. A backend that cannot run a model (the page falls
back to cpu) is reported with the page's reason. The targets apply to --name, the demo's model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bench.table import Column, Table, write_report
from pipeline import ui
from pipeline.config import DEFAULT_NAME, MODELS_DIR
from pipeline.layout import Layout
from web import browser

BACKENDS = ("wasm", "cpu", "webgl")
# What the page must reach with wasm for a demo that feels instant: the model loads in under
# 500 ms, one input takes under 5 ms.
MAX_LOAD_MS = 500.0
MAX_P50_MS = 5.0


def measure(chromium, url: str, backend: str, loads: int, runs: int) -> dict:
    network, cached, first = [], [], []
    for _ in range(loads):
        context = chromium.new_context()
        try:
            page = browser.open_demo(context, f"{url}backend={backend}")
            if page.evaluate("document.body.dataset.state") != "ready":
                return {"backend": backend, "error": page.text_content("#error")}
            state = page.evaluate("demo.state()")
            if state["backend"] != backend:
                why = (
                    state.get("fallbackReason")
                    or f"did not initialise (fell back to {state['backend']})"
                )
                return {"backend": backend, "error": why}
            network.append(state["loadMs"])
            first.append(state["firstPredictionMs"])
            page.reload()
            page.wait_for_function("document.body.dataset.state === 'ready'")
            again = page.evaluate("demo.state()")
            if again["source"] == "cache":
                cached.append(again["loadMs"])
            latency = page.evaluate(f"demo.benchmark({runs})")
        finally:
            context.close()
    return {
        "backend": backend,
        "load_ms": statistics.median(network),
        "cached_load_ms": statistics.median(cached) if cached else None,
        "first_prediction_ms": statistics.median(first),
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
    }


def render(
    name: str, rows: list[dict], loads: int, runs: int, targets: bool
) -> tuple[str, list[str]]:
    missed = []
    wasm = next((r for r in rows if r["backend"] == "wasm" and "error" not in r), None)
    if targets and wasm is None:
        missed.append(f"{name}: the wasm backend did not run it")
    elif targets:
        if wasm["load_ms"] > MAX_LOAD_MS:
            missed.append(f"{name}: wasm load {wasm['load_ms']:.0f} ms > {MAX_LOAD_MS:.0f} ms")
        if wasm["p50_ms"] > MAX_P50_MS:
            missed.append(f"{name}: wasm p50 {wasm['p50_ms']:.2f} ms > {MAX_P50_MS:g} ms")
    table = Table(f"bench-web: {name} in headless Chromium", columns())
    for r in rows:
        table.add(*cells(r))
    table.print()
    notes = why_not_run(rows)
    for note in notes:
        ui.out.print(note)
    verdict = "; ".join(missed) if missed else "all met"
    lines = [
        "# bench-web",
        "",
        f"`{name}` in its page, headless Chromium (`{browser.CHROMIUM}`) from the local static "
        f"server on 127.0.0.1. Medians of {loads} page loads in fresh profiles; latency is one "
        f"input at a time through the page's predict, {runs} calls cycling through the golden set.",
        "",
        table.markdown(),
        "",
        *notes,
        *([""] if notes else []),
    ]
    if targets:
        lines += [
            f"Targets with wasm: load under {MAX_LOAD_MS:.0f} ms, p50 under {MAX_P50_MS:g} ms: "
            f"**{verdict}**.",
            "",
        ]
    return "\n".join(lines), missed


def why_not_run(rows: list[dict], model: str = "") -> list[str]:
    """A line per backend that did not run the model, with the page's own reason."""
    where = f"{model} " if model else ""
    return [f"- {where}{r['backend']}: {r['error']}" for r in rows if "error" in r]


def columns(model: bool = False) -> list[Column]:
    first = [Column("model", "left")] if model else []
    timings = ("load ms", "cached load ms", "first prediction ms", "p50 ms", "p99 ms")
    return [*first, Column("backend", "left"), *map(Column, timings)]


def cells(r: dict) -> list[str]:
    def ms(v, digits=1):
        return "-" if v is None else f"{v:.{digits}f}"

    if "error" in r:
        return [r["backend"], "not run (below)", "", "", "", ""]
    return [
        r["backend"],
        ms(r["load_ms"]),
        ms(r["cached_load_ms"]),
        ms(r["first_prediction_ms"]),
        ms(r["p50_ms"], 2),
        ms(r["p99_ms"], 2),
    ]


def models_in(dist: Path, first: str) -> list[str]:
    """The models web/dist holds a TF.js model for, `first` first."""
    names = sorted(p.parent.name for p in (dist / "models").glob("*/model.json"))
    return sorted(names, key=lambda n: n != first)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help=f"the demo's model, held to the targets (default: {DEFAULT_NAME})",
    )
    parser.add_argument(
        "--models", help="comma-separated (default: every model in --dist with TF.js)"
    )
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    parser.add_argument("--dist", type=Path, default=browser.WEB_DIR / "dist", help="built page")
    parser.add_argument("--loads", type=int, default=3, help="page loads per backend")
    parser.add_argument("--runs", type=int, default=300, help="timed single-input calls")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else models_in(args.dist, args.name)
    missing = [n for n in names if not (args.dist / "models" / n / "model.json").is_file()]
    if missing or not names:
        what = ", ".join(missing) or args.name
        print(
            f"bench-web: no TF.js model for {what} in {args.dist}: run `make web` first",
            file=sys.stderr,
        )
        return 2

    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict]] = {}
    with browser.static_server(args.dist) as url, sync_playwright() as p:
        chromium = browser.launch(p)
        try:
            for name in names:
                results[name] = [
                    measure(chromium, url + f"?model={name}&", b, args.loads, args.runs)
                    for b in BACKENDS
                ]
        finally:
            chromium.close()
    missed = []
    for name, rows in results.items():
        text, misses = render(name, rows, args.loads, args.runs, targets=name == args.name)
        missed += misses
        path = write_report(Layout(args.models_dir, name).reports_dir, "web", text)
        ui.out.print(f"wrote {path}")
    if len(results) > 1:
        table = Table("bench-web: every model", columns(model=True))
        for name, rows in results.items():
            for r in rows:
                table.add(name, *cells(r))
        table.print()
        for name, rows in results.items():
            for note in why_not_run(rows, name):
                ui.out.print(note)
    for miss in missed:
        print(f"bench-web: target missed: {miss}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
