"""The model server as a swarm stack of three replicas behind HAProxy (deploy/swarm), under load:

- REST calls over one keep-alive connection, and gRPC calls over one long-lived HTTP/2 channel,
  both through the proxy, spread over every replica (each replica's own metrics count them);
- the project's gRPC client inside the network, on dns:///tasks.<stack>_model-server:8500, spreads
  its calls over one channel with round_robin (and, as gRPC's default pick_first, does not);
- a rolling update (start-first) loses no request and needs no retry;
- a replica killed with SIGKILL is replaced, a client retrying on connection errors only loses
  nothing, and the replacement serves.
Every answer equals the SavedModel's within 1e-6.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import Rest
from tests.system.swarm.conftest import REPLICAS, ROUND_ROBIN_SCRIPT, share_check

pytestmark = pytest.mark.containers
CALLS = 300
PREDICT = "/v1/models/digits:predict"


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    assert set(before) == set(after), (before, after)  # the same replicas throughout
    return {cid: after[cid] - before[cid] for cid in after}


def grpc_request(x: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(x))
    return request


def close(got: np.ndarray, expected: np.ndarray) -> bool:
    return float(np.max(np.abs(got - expected))) <= 1e-6


def test_rest_calls_over_one_connection_spread_over_the_replicas(stack):
    before = stack.counts()
    client = Rest(stack.rest_port)
    body = {"instances": stack.x.tolist()}
    for _ in range(CALLS):
        code, _, doc = client.post(PREDICT, body)
        assert code == 200, doc
        assert close(np.asarray(doc["predictions"], dtype=np.float32), stack.expected)
    client.conn.close()
    share_check(delta(before, stack.counts()), CALLS)


def test_grpc_calls_over_one_channel_spread_over_the_replicas(stack):
    before = stack.counts()
    request = grpc_request(stack.x)
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(CALLS):
            got = tf.make_ndarray(stub.Predict(request, timeout=30).outputs["probabilities"])
            assert close(got, stack.expected)
    share_check(delta(before, stack.counts()), CALLS)


def test_the_web_demo_reaches_the_replicas_through_the_proxy(stack):
    client = Rest(stack.web_port)
    code, _, doc = client.post(PREDICT, {"instances": stack.x.tolist()})
    client.conn.close()
    assert code == 200, doc
    assert close(np.asarray(doc["predictions"], dtype=np.float32), stack.expected)


@pytest.mark.parametrize("lb", ["round_robin", "pick_first"])
def test_the_project_client_inside_the_network_spreads_its_calls_with_round_robin(stack, lb):
    before = stack.counts()
    out = stack.inside("python", "-c", ROUND_ROBIN_SCRIPT, stack.dns_target, lb, str(CALLS))
    assert json.loads(out.splitlines()[-1])["worst"] <= 1e-6
    spread = delta(before, stack.counts())
    if lb == "round_robin":
        share_check(spread, CALLS)
    else:  # gRPC's default: the channel stays on one of the addresses DNS gave
        assert sorted(spread.values()) == [0] * (REPLICAS - 1) + [CALLS], spread


class Traffic:
    """REST and gRPC predicts through the proxy, each in its own thread, until the block ends.
    A connection error (REST: refused or reset; gRPC: UNAVAILABLE) is retried and counted; any
    other failure is a lost request, and any answer off the SavedModel's is wrong."""

    def __init__(self, stack):
        self.stack = stack
        self.answered = {"rest": 0, "grpc": 0}
        self.retries = {"rest": 0, "grpc": 0}
        self.lost: list = []
        self.wrong = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._rest, self._grpc)]

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _answer(self, protocol: str, got: np.ndarray) -> None:
        self.wrong += not close(got, self.stack.expected)
        self.answered[protocol] += 1

    def _rest(self) -> None:
        client = Rest(self.stack.rest_port)
        body = {"instances": self.stack.x.tolist()}
        while not self._stop.is_set():
            try:
                code, _, doc = client.post(PREDICT, body)
            except (OSError, http.client.HTTPException):
                self.retries["rest"] += 1
                time.sleep(0.1)
                continue
            if code != 200:
                self.lost.append(("rest", code, doc))
                continue
            self._answer("rest", np.asarray(doc["predictions"], dtype=np.float32))
        client.conn.close()

    def _grpc(self) -> None:
        request = grpc_request(self.stack.x)
        with grpc.insecure_channel(f"127.0.0.1:{self.stack.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                try:
                    response = stub.Predict(request, timeout=30)
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.UNAVAILABLE:
                        self.retries["grpc"] += 1
                        time.sleep(0.1)
                    else:
                        self.lost.append(("grpc", e.code().name, e.details()))
                    continue
                self._answer("grpc", tf.make_ndarray(response.outputs["probabilities"]))

    def wait_answers(self, more: int, seconds: float = 120.0) -> None:
        target = {p: n + more for p, n in self.answered.items()}
        self.stack.wait(
            lambda: all(self.answered[p] >= target[p] for p in target),
            seconds,
            f"{more} more answers of each protocol (have {self.answered}, lost {self.lost[:3]})",
        )


def all_ready(stack, avoid: set[str]) -> bool:
    """REPLICAS replicas run, none of them in avoid, and the proxy sends traffic to each."""
    replicas = set(stack.replicas())
    return (
        len(replicas) == REPLICAS
        and not replicas & avoid
        and stack.proxy_up("rest") == REPLICAS
        and stack.proxy_up("grpc") == REPLICAS
    )


def test_a_rolling_update_loses_no_request(stack):
    old = set(stack.replicas())
    with Traffic(stack) as traffic:
        traffic.wait_answers(20)
        start = dict(traffic.answered)
        update = subprocess.run(
            ["docker", "service", "update", "--force", "--detach=false", "--update-monitor=2s",
             f"{stack.name}_model-server"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert update.returncode == 0, update.stderr
        stack.wait(lambda: all_ready(stack, old), what="three new replicas behind the proxy")
        traffic.wait_answers(20)
    assert traffic.lost == [] and traffic.wrong == 0
    assert traffic.retries == {"rest": 0, "grpc": 0}  # the clients never saw a replica go
    during = {p: traffic.answered[p] - start[p] for p in start}
    assert min(during.values()) >= 100, during  # the update happened under load


def test_a_killed_replica_is_replaced_and_a_retrying_client_loses_nothing(stack):
    replicas = stack.replicas()
    victim = next(iter(replicas))
    with Traffic(stack) as traffic:
        traffic.wait_answers(20)
        container = stack.engine.containers.get(victim)
        os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)  # as the OOM killer would
        stack.wait(lambda: all_ready(stack, {victim}), what="the killed replica replaced")
        traffic.wait_answers(50)
    assert traffic.lost == [] and traffic.wrong == 0, traffic.lost[:5]
    (replacement,) = set(stack.replicas()) - set(replicas)
    before = stack.counts()
    client = Rest(stack.rest_port)
    for _ in range(60):
        code, _, doc = client.post(PREDICT, {"instances": stack.x.tolist()})
        assert code == 200, doc
    client.conn.close()
    served = delta(before, stack.counts())
    assert served[replacement] >= 0.15 * 60, served
