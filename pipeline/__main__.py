"""The pipeline's command line.

python -m pipeline run                      # train, export, convert, verify, report, publish
python -m pipeline predict --target tflite-int8 digit.png
python -m pipeline run --model my.keras --samples my.npz --name mine
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter quiet

from pipeline.cluster import KERAS_FIT_REFUSED, Cluster
from pipeline.config import DEFAULT_NAME, GATE_CHECKS, MODELS_DIR, Gate, PipelineConfig, TrainConfig
from pipeline.errors import GateFailure, UserError, WorkerLost
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
    p.add_argument(
        "--samples",
        type=Path,
        help="npz to verify it on: one array per input name (x for one input), labels as y "
        "or y_<output>",
    )
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

    p = sub.add_parser("predict", help="a model's outputs (top classes) for an input file")
    _common(p)
    p.add_argument(
        "input",
        type=Path,
        help="an .npz with one array per input name (any model), or for a one-input model "
        "a PNG/JPEG image (any size) or an .npy array",
    )
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
    p.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="TARGET.CHECK=VALUE",
        help="set one check of a target's gate for this model, e.g. tflite-int8.min_agreement=0.95 "
        f"(checks: {', '.join(GATE_CHECKS)}; 'none' turns one off); repeatable",
    )


def _training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trainer",
        choices=("keras", "tf"),
        help="whose model to export (default: keras; tf when TF_CONFIG names a cluster)",
    )
    p.add_argument("--epochs", type=int, help="maximum epochs (default: 40, early stopping)")
    p.add_argument("--no-compare", action="store_true", help="train only the exported trainer")


def config_from(args) -> PipelineConfig:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        raise UserError(f"invalid model name {args.name!r}: use letters, digits, '.', '_' or '-'")
    cfg = PipelineConfig(name=args.name, models_dir=args.models_dir.resolve())
    if hasattr(args, "trainer"):
        cluster = Cluster.from_env() if args.command in ("run", "train") else None
        if cluster is not None and getattr(args, "model", None) is not None:
            raise UserError("TF_CONFIG is set, but a brought --model is not trained: unset it")
        if cluster is not None and args.trainer == "keras":
            raise UserError(KERAS_FIT_REFUSED)
        trainer = args.trainer or ("tf" if cluster is not None else "keras")
        train = TrainConfig() if args.epochs is None else replace(TrainConfig(), epochs=args.epochs)
        if args.epochs is not None and args.epochs < 1:
            raise UserError("--epochs must be at least 1")
        cfg = replace(
            cfg, trainer=trainer, train=train, compare_trainers=not args.no_compare, cluster=cluster
        )
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
    if getattr(args, "gate", None):
        cfg = replace(cfg, gates=gate_overrides(args.gate))
    if args.command == "predict":  # checked here, before TensorFlow's import costs seconds
        if args.target not in TARGETS:
            raise UserError(f"unknown target {args.target!r}; choose one of: {', '.join(TARGETS)}")
        if args.top < 1:
            raise UserError("--top must be at least 1")
    return cfg


def gate_overrides(settings: list[str]) -> dict[str, Gate]:
    """`TARGET.CHECK=VALUE` settings on top of each target's default gate."""
    gates: dict[str, Gate] = {}
    for setting in settings:
        match = re.fullmatch(r"([\w-]+)\.(\w+)=(\S+)", setting)
        if not match:
            raise UserError(f"--gate {setting!r}: expected TARGET.CHECK=VALUE")
        target, check, text = match.groups()
        if target not in TARGETS:
            raise UserError(f"--gate: unknown target {target!r}; choose from: {', '.join(TARGETS)}")
        if check not in GATE_CHECKS:
            raise UserError(
                f"--gate: unknown check {check!r}; choose from: {', '.join(GATE_CHECKS)}"
            )
        try:
            value = None if text == "none" else float(text)
        except ValueError:
            raise UserError(f"--gate {setting!r}: {text!r} is not a number") from None
        if value is not None and value < 0:
            raise UserError(f"--gate {setting!r}: a gate value cannot be negative")
        if check == "tie_margin" and value is None:
            value = 0.0
        gates[target] = replace(gates.get(target, TARGETS[target].gate), **{check: value})
    return gates


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    joined: list[Cluster] = []  # the cluster this process trains in, once its config is read
    code = _main(args, joined)
    if joined:  # however the command ended: TensorFlow would hold the exit (pipeline/stages.py)
        from pipeline.stages import leave_cluster

        leave_cluster(code)
    return code


def _main(args, joined: list) -> int:
    try:
        cfg = config_from(args)
        if cfg.cluster is not None:
            joined.append(cfg.cluster)
        quiet_import_tensorflow()
        from pipeline import commands

        return getattr(commands, args.command)(cfg, args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GateFailure as exc:
        print(f"FAILED: {exc}; nothing was published", file=sys.stderr)
        return 1
    except WorkerLost as exc:  # exit 1: the engine restarts the worker, which resumes
        print(
            f"error: {exc}; restarted, every worker resumes from the last checkpoint",
            file=sys.stderr,
        )
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
    except Exception as exc:
        if not disk_full(exc):
            raise
        where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
        print(
            f"error: no space left on the device{where}; the run stopped, its staged files were "
            "removed and nothing was published",
            file=sys.stderr,
        )
        return 1


def disk_full(exc: BaseException | None) -> bool:
    """ENOSPC or EDQUOT, raised by Python or reported in TensorFlow's or a converter's message,
    or the cause of the error that was raised."""
    if exc is None:
        return False
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
        return True
    return disk_full(exc.__cause__ or exc.__context__)


if __name__ == "__main__":
    sys.exit(main())
