"""A small gRPC load generator: N concurrent Predict calls in a loop for D seconds, official stubs.

python -m serving.grpc_load 127.0.0.1:8500 digits x.npy 64 10    # prints one JSON line
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from pipeline.ui import quiet_import_tensorflow


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
    target, name, npy, concurrency, duration = sys.argv[1:6]
    quiet_import_tensorflow()
    result = asyncio.run(drive(target, name, np.load(npy), int(concurrency), float(duration)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
