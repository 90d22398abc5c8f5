"""Server-side batching: concurrent requests to one signature merged into one model call.

The knobs are TF Serving's BatchingParameters: a batch closes when it holds max_batch_size
examples or batch_timeout_micros after its first task; num_batch_threads batches run at once;
at most max_enqueued_batches wait. With a zero timeout an idle thread takes whatever is queued,
so batches grow exactly when the model is busy.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from serving.errors import ServingError, invalid, unavailable

Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class BatchingParameters:
    max_batch_size: int = 1000  # TF Serving's defaults when the file leaves a field out
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 2  # TF Serving uses the core count; these machines have two
    allowed_batch_sizes: tuple[int, ...] = ()


@dataclass(slots=True)
class _Task:
    inputs: Tensors
    size: int
    future: asyncio.Future


@dataclass
class _Batch:
    tasks: list[_Task] = field(default_factory=list)
    size: int = 0


class Batcher:
    """Merges tasks for one (version, signature); `run` takes and returns batched tensors."""

    def __init__(
        self,
        run: Callable[[Tensors], Tensors],
        params: BatchingParameters,
        executor: Executor,
        on_batch: Callable[[int], None] | None = None,
    ):
        self._run, self._params, self._executor = run, params, executor
        self._on_batch = on_batch or (lambda size: None)
        self._open = _Batch()
        self._closed: deque[_Batch] = deque()
        self._busy = 0
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, inputs: Tensors, size: int) -> Tensors:
        p = self._params
        if size > p.max_batch_size:
            raise invalid(
                f"Task size {size} is larger than maximum input batch size {p.max_batch_size}"
            )
        if self._open.size + size > p.max_batch_size:
            self._close_open()
        if not self._open.tasks and len(self._closed) >= p.max_enqueued_batches:
            raise unavailable("The batch scheduling queue to which this task was submitted is full")
        loop = asyncio.get_running_loop()
        task = _Task(inputs, size, loop.create_future())
        self._open.tasks.append(task)
        self._open.size += size
        if self._open.size >= p.max_batch_size:
            self._close_open()
        elif p.batch_timeout_micros > 0 and self._timer is None:
            self._timer = loop.call_later(p.batch_timeout_micros / 1e6, self._on_timeout)
        self._pump()
        return await task.future

    def _on_timeout(self) -> None:
        self._timer = None
        self._close_open()
        self._pump()

    def _close_open(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._open.tasks:
            self._closed.append(self._open)
            self._open = _Batch()

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._busy < self._params.num_batch_threads:
            if not self._closed and self._open.tasks and self._params.batch_timeout_micros == 0:
                self._close_open()
            if not self._closed:
                return
            batch = self._closed.popleft()
            batch.tasks = [t for t in batch.tasks if not t.future.done()]  # deadline passed
            if not batch.tasks:
                continue
            self._busy += 1
            done = loop.run_in_executor(self._executor, self._run_batch, batch.tasks)
            done.add_done_callback(lambda f, tasks=batch.tasks: self._finish(tasks, f))

    def _run_batch(self, tasks: list[_Task]) -> list[Tensors]:
        """Worker thread: concatenate, run once, split the outputs back by task size."""
        sizes = [t.size for t in tasks]
        total = sum(sizes)
        self._on_batch(total)
        merged = {k: np.concatenate([t.inputs[k] for t in tasks]) for k in tasks[0].inputs}
        padded = self._pad_to_allowed(merged, total)
        outputs = self._run(padded)
        for key, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != padded_size(padded, total):
                raise invalid(
                    f"Batched output tensor '{key}' has 0th dimension "
                    f"{value.shape[0] if value.ndim else 'none'}; expected {total}"
                )
        offsets = np.cumsum([0, *sizes])
        return [
            {k: v[offsets[i] : offsets[i + 1]] for k, v in outputs.items()}
            for i in range(len(tasks))
        ]

    def _pad_to_allowed(self, merged: Tensors, total: int) -> Tensors:
        """Round the batch up to the next allowed size by repeating the first row (TF Serving pads)."""
        allowed = [s for s in self._params.allowed_batch_sizes if s >= total]
        if not allowed or allowed[0] == total:
            return merged
        extra = allowed[0] - total
        return {k: np.concatenate([v, np.repeat(v[:1], extra, axis=0)]) for k, v in merged.items()}

    def _finish(self, tasks: list[_Task], done: asyncio.Future) -> None:
        self._busy -= 1
        error = done.exception()
        results = None if error else done.result()
        for i, task in enumerate(tasks):
            if task.future.done():
                continue
            if error is not None:
                task.future.set_exception(
                    error if isinstance(error, ServingError) else invalid(str(error))
                )
            else:
                task.future.set_result(results[i])
        self._pump()


def padded_size(tensors: Tensors, default: int) -> int:
    first = next(iter(tensors.values()), None)
    return first.shape[0] if first is not None and first.ndim else default
