"""The edge runtime's command line (LiteRT or tflite-runtime; no TensorFlow).

python -m mobile predict models/tflite/digits/int8.tflite my-digit.png
python -m mobile predict models/tflite/mine/fp32.tflite samples.npz
python -m mobile bench models/tflite/digits/fp32.tflite --threads 1 --batch 1
python -m mobile inspect models/tflite/digits/int8.tflite
python -m mobile check models/tflite/digits/dynamic.tflite --runtime tflite-runtime
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mobile import envs
from mobile.errors import BadInput, CannotRun
from mobile.runtime import RUNTIMES, installed, resolve


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as every other bad input
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mobile", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    runtimes = ("auto", *RUNTIMES)

    p = sub.add_parser("predict", help="each output (top classes or values) for an input file")
    p.add_argument("model", type=Path, help="a .tflite file (labels.txt beside it names classes)")
    p.add_argument(
        "input",
        type=Path,
        help="an .npz with one array per input name, or for one input a PNG/JPEG or an .npy",
    )
    p.add_argument("--top", type=int, default=3, help="classes to print (default: 3)")
    p.add_argument(
        "--runtime", choices=runtimes, default="auto", help="default: LiteRT if installed"
    )
    p.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")

    p = sub.add_parser("bench", help="p50/p90/p99 latency and throughput, like benchmark_model")
    p.add_argument("model", type=Path)
    p.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    p.add_argument("--batch", type=int, default=1, help="samples per call (default: 1)")
    p.add_argument("--runs", type=int, default=200, help="timed runs (default: 200)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default: 10)")
    p.add_argument("--input", type=Path, help="an .npy of inputs (default: uniform in [0, 1])")
    p.add_argument(
        "--runtime", choices=runtimes, default="auto", help="default: LiteRT if installed"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("inspect", help="signatures, quantization, operators and versions, size")
    p.add_argument("model", type=Path)
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("check", help="whether a runtime can run the model, by running it there")
    p.add_argument("model", type=Path)
    p.add_argument("--runtime", choices=RUNTIMES, required=True)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def predict(args) -> int:
    from mobile.inputs import load_inputs
    from mobile.runtime import TfliteModel, labels_for

    if args.top < 1:
        raise BadInput("--top must be at least 1")
    model = TfliteModel(args.model, args.runtime, args.threads)
    outputs = model.run(load_inputs(args.input, model.inputs))
    labels = labels_for(args.model) if len(outputs) == 1 else None  # labels.txt: one output's
    for name in model.outputs:
        if len(outputs) > 1:
            print(f"{name}:")
        for line in output_lines(outputs[name], labels, args.top):
            print(line)
    return 0


def output_lines(values: np.ndarray, labels: list[str] | None, top: int) -> list[str]:
    """Per sample: the top classes of a classification output (float [N, C], C > 1), else the
    values, numbers as %.6g; "[i] " before each when the batch has several."""
    rows = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
    classes = values.ndim == 2 and values.shape[1] > 1 and values.dtype.kind == "f"
    names = labels or []
    lines = []
    for i, row in enumerate(rows):
        prefix = f"[{i}] " if len(rows) > 1 else ""
        if classes:
            best = np.argsort(row)[::-1][:top]
            shown = [f"{names[k] if k < len(names) else k}: {row[k]:.4f}" for k in best]
        else:
            shown = [_show(v) for v in row]
        lines.append(prefix + "  ".join(shown))
    return lines


def _show(v) -> str:
    if isinstance(v, bytes):
        return json.dumps(v.decode(errors="replace"), ensure_ascii=False)
    return f"{v:.6g}" if isinstance(v, np.floating) else str(v)


def bench(args) -> int:
    from mobile.bench import benchmark

    for flag in ("threads", "batch", "runs"):
        if getattr(args, flag) < 1:
            raise BadInput(f"--{flag} must be at least 1")
    if args.warmup < 0:
        raise BadInput("--warmup must not be negative")
    x = None
    if args.input is not None:
        from mobile.inputs import load_input
        from mobile.runtime import TfliteModel

        x = load_input(args.input, TfliteModel(args.model, args.runtime).input.shape)
    r = benchmark(args.model, args.runtime, args.threads, args.batch, args.runs, args.warmup, x)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2))
        return 0
    print(f"model       {r.model}")
    print(f"runtime     {r.runtime} {r.runtime_version}, {r.threads} thread(s), batch {r.batch}")
    print(f"init        {r.init_ms:.2f} ms   first inference {r.first_ms:.3f} ms")
    print(f"runs        {r.runs} timed after {r.warmup} warm-up")
    print(
        f"latency ms  p50 {r.p50_ms:.4f}   p90 {r.p90_ms:.4f}   p99 {r.p99_ms:.4f}   "
        f"mean {r.mean_ms:.4f}"
    )
    print(f"throughput  {r.throughput:,.0f} samples/s")
    return 0


def inspect(args) -> int:
    from mobile import describe

    model_file = describe.read(args.model)
    if args.json:
        print(json.dumps(describe.to_dict(model_file), indent=2))
    else:
        print(describe.render(model_file))
    return 0


def check(args) -> int:
    from mobile.check import check as check_model

    result = check_model(args.model, args.runtime)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0 if result.ok else 1
    needs = f" (needs runtime ≥ {result.min_runtime_version}, per its metadata)"
    print(f"model     {result.model}{needs if result.min_runtime_version else ''}")
    where = "" if result.where == "host" else f", in {result.where}"
    print(f"runtime   {result.runtime} {result.runtime_version}{where}")
    print(f"verdict   {'runs it' if result.ok else 'CANNOT RUN IT'}")
    if result.flex_ops:
        print(
            f"flex ops  needs Flex (Select TensorFlow) ops: {', '.join(result.flex_ops)}; "
            "the runtime must link the Flex delegate"
        )
    if result.custom_ops:
        print(f"custom    needs custom ops: {', '.join(result.custom_ops)}")
    for i, line in enumerate(result.reason.splitlines()):
        print(f"{'reason' if i == 0 else '':<9} {line}")
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        runtime = getattr(args, "runtime", "auto")
        if args.command != "check" and runtime != "auto" and not installed(runtime):
            # the runtime lives in its own environment: run this very command there
            return envs.run(runtime, "mobile", argv, capture=False).returncode
        return {"predict": predict, "bench": bench, "inspect": inspect, "check": check}[
            args.command
        ](args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CannotRun as exc:
        reason = " ".join(str(exc).splitlines())
        print(f"error: {resolve(runtime)} cannot run {args.model}: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
