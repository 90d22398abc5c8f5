"""bench-soak's load: REST and gRPC Predict clients in a loop, every answer checked.

python -m bench.soak_load --rest http://127.0.0.1:8501 --grpc 127.0.0.1:8500 --name digits \
    --golden-dir models/golden/digits --seconds 60 --rest-connections 8 --grpc-connections 8

Prints one JSON line when connected ({"ready": ...}), then one a second with the latencies of the
requests that finished in it, its errors and the versions that answered over gRPC, then
{"done": true}. Its own process, so the load has its own GIL beside the soak's churn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from pipeline.config import EXACT
from pipeline.data import read_golden
from serving.quiet import quiet_import_tensorflow

TIMEOUT_S = 10.0  # a request slower than this is an error
MAX_SAMPLES = 5  # error descriptions kept per second: enough to say what went wrong


def check_answer(values, reference: np.ndarray, tolerance: float) -> str | None:
    """Why an answer is wrong, or None: its shape must be the reference's and every value within
    `tolerance` of it (the SavedModel's own gate against Keras), so a probability row sums to 1."""
    try:
        got = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        return f"not numbers: {e}"
    if got.shape != reference.shape:
        return f"shape {list(got.shape)}, expected {list(reference.shape)}"
    if not np.isfinite(got).all():
        return "not finite"
    diff = float(np.max(np.abs(got - reference))) if got.size else 0.0
    if diff > tolerance:
        return f"max |diff| {diff:.3g} from the reference (tolerance {tolerance:g})"
    return None


@dataclass
class Tally:
    """What finished since the last line."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"rest": [], "grpc": []})
    errors: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def record(self, protocol: str, ms: float, problem: str | None, version: int | None = None):
        if problem is None:
            self.latencies[protocol].append(round(ms, 3))
            if version is not None:
                self.versions[version] += 1
            return
        self.errors[protocol] += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(f"{protocol}: {problem}")

    def line(self, at: float) -> str:
        return json.dumps(
            {
                "at": at,
                "rest": self.latencies["rest"],
                "grpc": self.latencies["grpc"],
                "errors": dict(self.errors),
                "versions": {str(v): n for v, n in self.versions.items()},
                "samples": self.samples,
            }
        )


async def drive(args, x: np.ndarray, reference: np.ndarray, input_name: str, output_name: str):
    import aiohttp
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    tolerance = EXACT.max_abs_diff
    n = len(x)
    rows = [reference[i : i + 1] for i in range(n)]
    bodies = [json.dumps({"instances": x[i : i + 1].tolist()}).encode() for i in range(n)]
    requests = []
    for i in range(n):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = args.name
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(x[i : i + 1]))
        requests.append(request)
    url = f"{args.rest}/v1/models/{args.name}:predict"
    headers = {"Content-Type": "application/json"}
    tally = Tally()

    async def rest_call(session, i: int) -> tuple[float, str | None]:
        start = time.perf_counter()
        try:
            async with session.post(url, data=bodies[i], headers=headers) as r:
                status, raw = r.status, await r.read()
            ms = (time.perf_counter() - start) * 1e3
            if status != 200:
                return ms, f"HTTP {status}: {raw[:300].decode(errors='replace')}"
            return ms, check_answer(json.loads(raw)["predictions"], rows[i], tolerance)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as e:
            return (time.perf_counter() - start) * 1e3, f"{type(e).__name__}: {e}"

    async def grpc_call(stub, i: int) -> tuple[float, str | None, int | None]:
        start = time.perf_counter()
        try:
            response = await stub.Predict(requests[i], timeout=TIMEOUT_S)
            ms = (time.perf_counter() - start) * 1e3
            if output_name not in response.outputs:
                return ms, f"no output {output_name!r}: {sorted(response.outputs)}", None
            values = tf.make_ndarray(response.outputs[output_name])
            return ms, check_answer(values, rows[i], tolerance), response.model_spec.version.value
        except grpc.aio.AioRpcError as e:
            ms = (time.perf_counter() - start) * 1e3
            return ms, f"{e.code().name}: {e.details()}", None

    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=max(args.rest_connections, 1))
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        grpc.aio.insecure_channel(args.grpc) as channel,
    ):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        # connected and answering before the clock starts (the server counts these two too)
        for problem in ((await rest_call(session, 0))[1], (await grpc_call(stub, 0))[1]):
            if problem:
                raise SystemExit(f"soak load: the first request failed: {problem}")
        print(json.dumps({"ready": time.monotonic(), "requests": 2}), flush=True)
        end = time.monotonic() + args.seconds

        async def rest_worker(k: int) -> None:
            i = k
            while time.monotonic() < end:
                ms, problem = await rest_call(session, i % n)
                tally.record("rest", ms, problem)
                i += args.rest_connections

        async def grpc_worker(k: int) -> None:
            i = k
            while time.monotonic() < end:
                ms, problem, version = await grpc_call(stub, i % n)
                tally.record("grpc", ms, problem, version)
                i += args.grpc_connections

        async def report() -> None:
            nonlocal tally
            while time.monotonic() < end:
                await asyncio.sleep(1.0)
                done, tally = tally, Tally()
                print(done.line(time.monotonic()), flush=True)

        workers = [rest_worker(k) for k in range(args.rest_connections)]
        workers += [grpc_worker(k) for k in range(args.grpc_connections)]
        reporter = asyncio.create_task(report())
        await asyncio.gather(*workers)
        reporter.cancel()
    print(tally.line(time.monotonic()), flush=True)  # what finished after the last line
    print(json.dumps({"done": True}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.soak_load", description=__doc__.splitlines()[0]
    )
    p.add_argument("--rest", required=True, help="the server's REST URL")
    p.add_argument("--grpc", required=True, help="host:port of its gRPC API")
    p.add_argument("--name", required=True, help="model name")
    p.add_argument("--golden-dir", type=Path, required=True, help="models/golden/<name>")
    p.add_argument("--seconds", type=float, required=True, help="how long to load")
    p.add_argument("--rest-connections", type=int, default=8, help="REST calls in flight")
    p.add_argument("--grpc-connections", type=int, default=8, help="gRPC calls in flight")
    args = p.parse_args()
    golden = read_golden(args.golden_dir)
    x, _, reference = golden.single()
    (input_name,), (output_name,) = golden.inputs, golden.reference
    quiet_import_tensorflow()
    asyncio.run(drive(args, x, reference.astype(np.float64), input_name, output_name))


if __name__ == "__main__":
    sys.exit(main())
