"""A small gRPC load generator: N concurrent Predict calls in a loop for D seconds, official stubs.

python -m bench.grpc_load 127.0.0.1:8500 digits x.npy 64 10    # prints one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from serving.quiet import quiet_import_tensorflow


async def drive(target: str, name: str, x: np.ndarray, concurrency: int, duration: float) -> dict:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    requests = []
    for i in range(len(x)):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(x[i : i + 1]))
        requests.append(request)
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        await stub.Predict(requests[0], timeout=30)  # connect before the clock starts
        end = time.perf_counter() + duration

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < end:
                start = time.perf_counter()
                try:
                    await stub.Predict(requests[i % len(requests)], timeout=5)
                    latencies.append((time.perf_counter() - start) * 1e3)
                except grpc.aio.AioRpcError:
                    errors += 1
                i += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else 0.0,
        "p99_ms": float(np.percentile(latencies, 99)) if latencies else 0.0,
        "errors": errors,
        "requests": len(latencies) + errors,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.grpc_load", description=__doc__.splitlines()[0]
    )
    p.add_argument("target", help="host:port of the gRPC server")
    p.add_argument("name", help="model name")
    p.add_argument("npy", help="inputs, one request per row")
    p.add_argument("concurrency", type=int, help="calls in flight")
    p.add_argument("duration", type=float, help="seconds")
    args = p.parse_args()
    quiet_import_tensorflow()
    x = np.load(args.npy)
    result = asyncio.run(drive(args.target, args.name, x, args.concurrency, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
