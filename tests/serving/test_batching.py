"""Server-side batching in-process: merged calls, split results, TF Serving's limits and errors."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from serving.batching import Batcher, BatchingParameters
from serving.config import ConfigError, read_batching_parameters
from serving.errors import ServingError


class Model:
    """Doubles its input and records the batch size of every call; can be held to fill a queue."""

    def __init__(self):
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, inputs):
        self.gate.wait(10)
        self.calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows():
    model = Model()
    params = BatchingParameters(max_batch_size=64, batch_timeout_micros=50_000, num_batch_threads=1)

    async def main():
        batcher = Batcher(model, params, ThreadPoolExecutor(1))
        xs = [np.full((n, 3), i, np.float32) for i, n in enumerate([1, 2, 3, 4], start=1)]
        return xs, await asyncio.gather(*(batcher.submit({"x": x}, len(x)) for x in xs))

    xs, results = run(main())
    assert model.calls == [10]  # one call for 1+2+3+4 examples
    for x, result in zip(xs, results, strict=True):
        np.testing.assert_array_equal(result["y"], x * 2)


def test_a_full_batch_runs_without_waiting_for_the_timeout():
    model = Model()
    params = BatchingParameters(
        max_batch_size=4, batch_timeout_micros=10_000_000, num_batch_threads=1
    )

    async def main():
        batcher = Batcher(model, params, ThreadPoolExecutor(1))
        x = np.ones((2, 1), np.float32)
        return await asyncio.wait_for(
            asyncio.gather(batcher.submit({"x": x}, 2), batcher.submit({"x": x}, 2)), 5
        )

    run(main())
    assert model.calls == [4]


def test_oversized_task_and_full_queue_get_tf_servings_errors():
    model = Model()
    params = BatchingParameters(max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1)

    async def main():
        batcher = Batcher(model, params, ThreadPoolExecutor(1))
        with pytest.raises(ServingError) as too_big:
            await batcher.submit({"x": np.ones((3, 1))}, 3)
        model.gate.clear()  # the one thread blocks on the first batch
        x = np.ones((2, 1))
        first = asyncio.ensure_future(batcher.submit({"x": x}, 2))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(batcher.submit({"x": x}, 2))  # closed batch 1 of 1
        await asyncio.sleep(0.05)
        with pytest.raises(ServingError) as full:
            await batcher.submit({"x": x}, 2)
        model.gate.set()
        await asyncio.gather(first, queued)
        return too_big.value, full.value

    too_big, full = run(main())
    assert too_big.code == grpc.StatusCode.INVALID_ARGUMENT
    assert too_big.message == "Task size 3 is larger than maximum input batch size 2"
    assert full.code == grpc.StatusCode.UNAVAILABLE
    assert "batch scheduling queue to which this task was submitted is full" in full.message


def test_allowed_batch_sizes_pad_the_batch_and_drop_the_padding():
    model = Model()
    params = BatchingParameters(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1)

    async def main():
        batcher = Batcher(model, params, ThreadPoolExecutor(1))
        return await batcher.submit({"x": np.arange(3, dtype=np.float32)[:, None]}, 3)

    result = run(main())
    assert model.calls == [4]
    np.testing.assert_array_equal(result["y"][:, 0], [0, 2, 4])


def test_batching_parameters_file_is_read_with_tf_servings_field_names(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 500 }\n"
        "num_batch_threads { value: 3 }\nallowed_batch_sizes: 16\nallowed_batch_sizes: 32\n"
    )
    params = read_batching_parameters(path, cores=2)
    assert params == BatchingParameters(32, 500, 10, 3, (16, 32))
    path.write_text("max_batch_size { value: 32 }\nallowed_batch_sizes: 16\n")
    with pytest.raises(ConfigError, match="end with max_batch_size"):
        read_batching_parameters(path, cores=2)
    path.write_text("max_batch_size: 32\n")
    with pytest.raises(ConfigError):
        read_batching_parameters(path, cores=2)
