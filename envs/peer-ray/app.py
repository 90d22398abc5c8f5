"""The SavedModel behind Ray Serve, with `@serve.batch`: python app.py PORT (PEER_MODEL set).

POST / {"instances": [[...]]} (one row) answers {"predictions": [...]}. One replica; its
max_ongoing_requests is above max_batch_size, as Ray's batching guide asks, so that a batch
can fill. Prints "ready" once the application is up; SIGTERM shuts Serve and Ray down.
"""

import os
import signal
import sys

import numpy as np
import ray
from ray import serve
from starlette.requests import Request

from bench.peer_model import PeerModel


@serve.deployment(max_ongoing_requests=128, ray_actor_options={"num_cpus": 1})
class Model:
    def __init__(self, path: str) -> None:
        self.model = PeerModel(path)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.001)
    async def predict(self, rows: list[np.ndarray]) -> list[list]:
        return self.model(np.stack(rows)).tolist()

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return {"predictions": [await self.predict(np.asarray(body["instances"][0]))]}


def main() -> None:
    port = int(sys.argv[1])
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Model.bind(os.environ["PEER_MODEL"]), route_prefix="/", blocking=False)
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
