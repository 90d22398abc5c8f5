"""The model-server image: REST and gRPC (official stubs) on the golden set, and hot reload from
its read-only models volume, reached only through 127.0.0.1 published ports."""

from __future__ import annotations

import os
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pipeline.config import GATES
from pipeline.data import read_golden
from pipeline.manifest import add_rows
from pipeline.verify import score
from serving.process import free_port
from tests.integration.conftest import image
from tests.serving.conftest import Rest

TAG = "model-server"


def readable(path):
    """The image runs as an unprivileged user: the mounted tree must be world-readable."""
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


@pytest.fixture(scope="module")
def models(built, tmp_path_factory):
    _, result, layout = built
    root = tmp_path_factory.mktemp("container-models")
    shutil.copytree(layout.version_dir(result.version), root / "digits" / "1")
    readable(root)
    return root, layout.version_dir(result.version)


@pytest.fixture(scope="module")
def server(engine, models):
    image(engine, TAG)
    root, _ = models
    rest_port, grpc_port = free_port(), free_port()
    container = engine.containers.run(
        TAG,
        command=["--file_system_poll_wait_seconds=1"],
        ports={"8501/tcp": ("127.0.0.1", rest_port), "8500/tcp": ("127.0.0.1", grpc_port)},
        volumes={str(root): {"bind": "/models", "mode": "ro"}},
        detach=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            container.reload()
            health = container.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy" or container.status == "exited":
                break
            time.sleep(1)
        assert health == "healthy", container.logs().decode(errors="replace")[-2000:]
        yield rest_port, grpc_port
    finally:
        container.remove(force=True)


def test_rest_and_grpc_in_the_container_equal_the_signature_call(server, models, built):
    rest_port, grpc_port = server
    layout = built[2]
    golden = read_golden(layout.golden_dir)
    expected = (
        tf.saved_model.load(str(models[1]))
        .signatures["serving_default"](image=tf.constant(golden.x))["probabilities"]
        .numpy()
    )

    rest = Rest(rest_port)
    code, _, doc = rest.post("/v1/models/digits:predict", {"instances": golden.x.tolist()})
    assert code == 200, doc
    via_rest = np.asarray(doc["predictions"], dtype=np.float32)

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits"
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(golden.x))
        via_grpc = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["probabilities"])

    rows = []
    for runtime, outputs in (("rest", via_rest), ("grpc", via_grpc)):
        assert np.max(np.abs(outputs - expected)) <= 1e-6
        metrics, failures = score(outputs, golden, GATES["savedmodel"])
        assert failures == []
        rows.append(
            {
                "runtime": runtime,
                "where": f"{TAG} (container)",
                **metrics,
                "p50_ms": None,
                "passed": True,
                "reason": "",
            }
        )
    add_rows(layout.reports_dir / "manifest.json", "savedmodel", rows)


def test_a_version_published_into_the_volume_loads_with_no_failed_request(server, models, built):
    rest_port, _ = server
    root, source = models
    golden = read_golden(built[2].golden_dir)
    body = {"instances": golden.x[:2].tolist()}
    failures, answered, stop = [], [], threading.Event()

    def loop():
        client = Rest(rest_port)
        while not stop.is_set():
            try:
                code, _, _ = client.post("/v1/models/digits:predict", body)
            except Exception as e:
                failures.append(repr(e))
                continue
            (answered if code == 200 else failures).append(code)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        scratch = root / ".incoming-2"
        shutil.copytree(source, scratch)
        readable(scratch)
        scratch.rename(root / "digits" / "2")
        rest = Rest(rest_port)
        deadline = time.monotonic() + 120
        states = {}
        while time.monotonic() < deadline:
            _, _, doc = rest.get("/v1/models/digits")
            states = {s["version"]: s["state"] for s in doc["model_version_status"]}
            if states.get("2") == "AVAILABLE" and states.get("1") == "END":
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert states == {"2": "AVAILABLE", "1": "END"}
    assert failures == [] and len(answered) > 10
