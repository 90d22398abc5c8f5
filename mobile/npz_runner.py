"""Run a model on the inputs in an .npz; write its outputs and single-sample latencies to an .npz.

The pipeline's bridge into another environment, as Node is for TF.js:
    envs/tflite214/.venv/bin/python -m mobile.npz_runner MODEL.tflite IN.npz OUT.npz --runtime tflite-runtime
IN.npz holds one array per signature input, by name; OUT.npz gets one per output, plus p50_ms
and p99_ms. A bad input exits 2 and a runtime that cannot run the model exits 1, each with one
line on stderr (the runtime's reason, for the verification row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mobile.bench import single_sample_latency
from mobile.errors import BadInput, CannotRun
from mobile.runtime import TfliteModel

BATCH = 256  # samples per call when computing every output


def run(model: TfliteModel, inputs: dict[str, np.ndarray], latency_runs: int) -> dict:
    n = len(next(iter(inputs.values())))
    chunks = [
        model.run({k: v[i : i + BATCH] for k, v in inputs.items()}) for i in range(0, n, BATCH)
    ]
    outputs = {name: np.concatenate([c[name] for c in chunks]) for name in model.outputs}
    if latency_runs > 0:
        outputs["p50_ms"], outputs["p99_ms"] = single_sample_latency(
            model.run, inputs, latency_runs
        )
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mobile.npz_runner", description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("inputs", type=Path)
    parser.add_argument("outputs", type=Path)
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--latency-runs", type=int, default=100)
    args = parser.parse_args(argv)
    try:
        model = TfliteModel(args.model, args.runtime)
        with np.load(args.inputs, allow_pickle=False) as f:
            inputs = {k: f[k] for k in f.files}
        outputs = run(model, inputs, args.latency_runs)
        np.savez(args.outputs, **outputs)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CannotRun as exc:
        print(" ".join(str(exc).splitlines()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
