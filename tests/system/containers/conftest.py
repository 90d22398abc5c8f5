"""Fixtures and helpers for the container tests: the Docker engine, the images `make images` built,
health waits, and the REST/gRPC check every server container gets."""

from __future__ import annotations

import os
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import docker
from pipeline.targets import TARGETS
from pipeline.verify import score_output
from tests.serving.conftest import Rest


@pytest.fixture(scope="session")
def engine():
    """The Docker engine (make test starts it with docker/engine.sh before pytest runs)."""
    client = docker.from_env()
    client.ping()
    yield client
    client.close()


def image(engine, tag: str):
    try:
        return engine.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {tag} is missing: run make images")


def readable(path):
    """The images run as unprivileged users: a mounted tree must be world-readable."""
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def wait_healthy(container, seconds=180):
    """Until the container's HEALTHCHECK passes; its log tail if it exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return
        if container.status == "exited":
            break
        time.sleep(1)
    raise AssertionError(container.logs().decode(errors="replace")[-2000:])


def served_rows(rest_port, grpc_port, saved_model_dir, golden, where, name="digits"):
    """REST and gRPC (official stubs) predictions on the golden set through 127.0.0.1 ports, each
    equal to the SavedModel signature call within 1e-6 and passing the gates: verification rows."""
    expected = (
        tf.saved_model.load(str(saved_model_dir))
        .signatures["serving_default"](image=tf.constant(golden.x))["probabilities"]
        .numpy()
    )
    rest = Rest(rest_port)
    code, _, doc = rest.post(f"/v1/models/{name}:predict", {"instances": golden.x.tolist()})
    rest.conn.close()
    assert code == 200, doc
    via_rest = np.asarray(doc["predictions"], dtype=np.float32)

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(golden.x))
        via_grpc = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["probabilities"])

    rows = []
    for runtime, outputs in (("rest", via_rest), ("grpc", via_grpc)):
        assert np.max(np.abs(outputs - expected)) <= 1e-6, runtime
        metrics, failures = score_output(
            outputs, golden.reference, golden.labels, TARGETS["savedmodel"].gate
        )
        assert failures == [], (runtime, failures)
        row = {"runtime": runtime, "where": where, **metrics, "p50_ms": None}
        rows.append({**row, "passed": True, "reason": ""})
    return rows
