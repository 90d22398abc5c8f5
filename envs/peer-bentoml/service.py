"""The SavedModel behind BentoML, with its adaptive batching: `bentoml serve service:Model`.

POST /predict {"instances": [[...]]} (a batch of one) answers the output for each row. Sync
APIs run in BentoML's thread pool; its batching dispatcher merges concurrent requests along
dimension 0 (the documented `batchable=True`), up to 64 rows, the most the bench has in flight.
"""

import os

import bentoml
import numpy as np

from bench.peer_model import PeerModel


@bentoml.service(workers=1, traffic={"timeout": 30})
class Model:
    def __init__(self) -> None:
        self.model = PeerModel(os.environ["PEER_MODEL"])

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=64, max_latency_ms=10_000)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.model(instances)
