"""The cluster a distributed training job runs on, from TF_CONFIG (no TensorFlow import).

TF_CONFIG is TensorFlow's own: {"cluster": {"worker": ["host:port", ...]},
"task": {"type": "worker", "index": i}}. Worker 0 is the chief. See pipeline/distributed.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pipeline.errors import UserError

KERAS_FIT_REFUSED = (
    "Keras 3 model.fit cannot train under MultiWorkerMirroredStrategy (keras-team/keras#20585); "
    "with TF_CONFIG set, train with --trainer tf"
)


@dataclass(frozen=True)
class Cluster:
    """The workers of one job, from TF_CONFIG, and which of them this process is."""

    workers: tuple[str, ...]
    index: int

    @property
    def chief(self) -> bool:
        return self.index == 0

    @property
    def size(self) -> int:
        return len(self.workers)

    @classmethod
    def from_env(cls, environ=os.environ) -> Cluster | None:
        """None without TF_CONFIG; one error line for a TF_CONFIG the strategy could not use."""
        text = environ.get("TF_CONFIG", "").strip()
        if not text:
            return None
        try:
            config = json.loads(text)
            workers = config["cluster"]["worker"]
            task = config["task"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f'TF_CONFIG: expected {{"cluster": {{"worker": [host:port, ...]}}, "task": '
                f'{{"type": "worker", "index": i}}}} ({type(exc).__name__}: {exc})'
            ) from None
        if set(config["cluster"]) - {"worker"}:
            other = sorted(set(config["cluster"]) - {"worker"})
            raise UserError(
                f"TF_CONFIG: only workers are supported (MultiWorkerMirroredStrategy), not {other}"
            )
        if (
            not isinstance(workers, list)
            or not workers
            or not all(isinstance(w, str) and ":" in w for w in workers)
        ):
            raise UserError("TF_CONFIG: cluster.worker must be a list of host:port strings")
        index = task.get("index") if isinstance(task, dict) else None
        if task.get("type") != "worker" or not isinstance(index, int):
            raise UserError('TF_CONFIG: task must be {"type": "worker", "index": <int>}')
        if not 0 <= index < len(workers):
            raise UserError(f"TF_CONFIG: task index {index} is not one of {len(workers)} workers")
        return cls(tuple(workers), index)
