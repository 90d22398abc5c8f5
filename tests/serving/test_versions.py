"""Versions on disk while the server runs: hot reload with no failed request, broken and partial
versions that never replace a good one, removed versions. The tests run in order on one model."""

from __future__ import annotations

import shutil
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import Rest

PREDICT = "/v1/models/digits:predict"


def wait_for(condition, timeout=60.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true after {timeout:.0f} s")


def states(rest: Rest) -> dict[int, str]:
    _, _, doc = rest.get("/v1/models/digits")
    return {int(s["version"]): s["state"] for s in doc["model_version_status"]}


def status_of(rest: Rest, version: int) -> dict:
    _, _, doc = rest.get(f"/v1/models/digits/versions/{version}")
    return doc["model_version_status"][0]


def served_version(server, x) -> int:
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits"
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(x))
        return stub.Predict(request, timeout=30).model_spec.version.value


def test_a_broken_version_shows_its_error_and_never_replaces_the_good_one(
    server, repo, rest, golden
):
    assert states(rest) == {1: "AVAILABLE"}
    broken = repo.root / ".building-broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    broken.rename(repo.base("digits") / "2")
    status = wait_for(lambda: (s := status_of_or_none(rest, 2)) and s["state"] == "END" and s)
    assert status["status"]["error_code"] != "OK"
    assert "Failed to load servable" in status["status"]["error_message"]
    assert states(rest)[1] == "AVAILABLE"
    assert served_version(server, golden.x[:1]) == 1


def status_of_or_none(rest: Rest, version: int):
    code, _, doc = rest.get(f"/v1/models/digits/versions/{version}")
    return doc["model_version_status"][0] if code == 200 else None


def test_a_partial_version_directory_is_never_loaded(server, repo, rest):
    partial = repo.base("digits") / "3"
    shutil.copytree(repo.source / "variables", partial / "variables")  # no saved_model.pb yet
    time.sleep(2.5)  # two polls
    assert 3 not in states(rest)
    shutil.rmtree(partial)


def test_hot_reload_swaps_in_a_new_version_with_no_failed_request(server, repo, rest, golden):
    failures, answered, stop = [], [], threading.Event()
    body = {"instances": golden.x[:4].tolist()}

    def client_loop():
        client = Rest(server.rest_port)
        while not stop.is_set():
            try:
                code, _, doc = client.post(PREDICT, body)
            except Exception as e:  # a refused or dropped connection is a failed request too
                failures.append(repr(e))
                continue
            (answered if code == 200 else failures).append(code if code != 200 else doc)

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        repo.publish("digits", 4)
        wait_for(lambda: states(rest).get(4) == "AVAILABLE" and states(rest).get(1) == "END")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert len(answered) > 50
    assert served_version(server, golden.x[:1]) == 4
    assert states(rest) == {4: "AVAILABLE", 2: "END", 1: "END"}


def test_a_removed_version_is_unloaded_and_the_previous_one_returns(server, repo, rest, golden):
    doomed = repo.base("digits") / "4"
    doomed.rename(repo.root / ".deleted-4")
    wait_for(lambda: states(rest).get(1) == "AVAILABLE" and states(rest).get(4) == "END")
    assert served_version(server, golden.x[:1]) == 1
    code, _, doc = rest.post(PREDICT, {"instances": golden.x[:2].tolist()})
    assert code == 200 and np.asarray(doc["predictions"]).shape == (2, 10)
