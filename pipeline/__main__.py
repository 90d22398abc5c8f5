"""The pipeline's command line.

python -m pipeline run                      # train, export, convert, verify, report, publish
python -m pipeline predict --target tflite-int8 digit.png
python -m pipeline run --model my.keras --samples my.npz --name mine
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter quiet

from pipeline.config import DEFAULT_NAME, MODELS_DIR, PipelineConfig, TrainConfig
from pipeline.errors import GateFailure, UserError
from pipeline.targets import TARGETS
from serving.quiet import quiet_import_tensorflow


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as every other bad input
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    p.add_argument(
        "--models-dir", type=Path, default=MODELS_DIR, help="artifact root (default: models/)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="the whole flow, published only if every gate passes")
    _common(p)
    _training_options(p)
    p.add_argument("--model", type=Path, help="bring your own .keras model (skips training)")
    p.add_argument("--samples", type=Path, help="npz with x (and optional y) to verify it on")
    p.add_argument("--keep", type=int, default=5, help="SavedModel versions to keep (default: 5)")
    _requirements(p)

    p = sub.add_parser("train", help="train the digits model and save the Keras reference")
    _common(p)
    _training_options(p)

    p = sub.add_parser("export", help="export the Keras reference as a new SavedModel version")
    _common(p)
    p.add_argument("--keep", type=int, default=5, help="SavedModel versions to keep (default: 5)")

    for command, text in (
        ("convert", "convert a SavedModel version to TFLite and TF.js"),
        ("verify", "verify every artifact in its runtime and write the manifest"),
    ):
        p = sub.add_parser(command, help=text)
        _common(p)
        p.add_argument("--version", type=int, help="SavedModel version (default: latest)")
        _requirements(p)

    p = sub.add_parser("report", help="write report.md and report.html from the manifest")
    _common(p)

    p = sub.add_parser("predict", help="top classes for a PNG/JPEG or .npy input")
    _common(p)
    p.add_argument("input", type=Path, help="a PNG/JPEG image (any size) or an .npy array")
    p.add_argument("--target", default="keras", help=f"one of: {', '.join(TARGETS)}")
    p.add_argument("--version", type=int, help="SavedModel version (default: latest)")
    p.add_argument("--top", type=int, default=3, help="classes to print (default: 3)")
    return parser


def _requirements(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--require",
        default="",
        metavar="T1,T2",
        help="targets that must be verified for the version to count (keras and savedmodel always)",
    )
    p.add_argument("--strict", action="store_true", help="require every target")


def _training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trainer", choices=("keras", "tf"), default="keras", help="whose model to export"
    )
    p.add_argument("--epochs", type=int, help="maximum epochs (default: 40, early stopping)")
    p.add_argument("--no-compare", action="store_true", help="train only the exported trainer")


def config_from(args) -> PipelineConfig:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        raise UserError(f"invalid model name {args.name!r}: use letters, digits, '.', '_' or '-'")
    cfg = PipelineConfig(name=args.name, models_dir=args.models_dir.resolve())
    if getattr(args, "trainer", None):
        train = TrainConfig() if args.epochs is None else replace(TrainConfig(), epochs=args.epochs)
        if args.epochs is not None and args.epochs < 1:
            raise UserError("--epochs must be at least 1")
        cfg = replace(cfg, trainer=args.trainer, train=train, compare_trainers=not args.no_compare)
    if getattr(args, "keep", None) is not None:
        if args.keep < 1:
            raise UserError("--keep must be at least 1")
        cfg = replace(cfg, keep_versions=args.keep)
    if getattr(args, "strict", False):
        cfg = replace(cfg, required=frozenset(TARGETS))
    elif getattr(args, "require", ""):
        required = {t.strip() for t in args.require.split(",") if t.strip()}
        if unknown := sorted(required - TARGETS.keys()):
            raise UserError(
                f"--require: unknown target {unknown[0]!r}; choose from: {', '.join(TARGETS)}"
            )
        cfg = replace(cfg, required=frozenset(required))
    if args.command == "predict":  # checked here, before TensorFlow's import costs seconds
        if args.target not in TARGETS:
            raise UserError(f"unknown target {args.target!r}; choose one of: {', '.join(TARGETS)}")
        if args.top < 1:
            raise UserError("--top must be at least 1")
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from(args)
        quiet_import_tensorflow()
        from pipeline import commands

        return getattr(commands, args.command)(cfg, args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GateFailure as exc:
        print(f"FAILED: {exc}; nothing was published", file=sys.stderr)
        return 1
    except PermissionError as exc:  # e.g. a models volume this (container) user cannot write
        print(
            f"error: cannot write {exc.filename}: permission denied for uid {os.getuid()}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was published", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
