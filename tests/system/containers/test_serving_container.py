"""The model-server image: REST and gRPC (official stubs) on the golden set, and hot reload from
its read-only models volume, reached only through 127.0.0.1 published ports."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from pipeline.data import read_golden
from pipeline.manifest import add_rows
from serving.process import free_port
from tests.serving.conftest import Rest
from tests.system.containers.conftest import image, readable, served_rows, wait_healthy

TAG = "model-server"


@pytest.fixture(scope="module")
def models(built, tmp_path_factory):
    _, result, layout = built
    root = tmp_path_factory.mktemp("container-models")
    shutil.copytree(layout.version_dir(result.version), root / "digits" / "1")
    readable(root)
    return root, layout.version_dir(result.version)


@pytest.fixture(scope="module")
def container_ports(engine, models):
    """The model-server image on the models volume: its REST and gRPC ports on 127.0.0.1."""
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
        wait_healthy(container)
        yield rest_port, grpc_port
    finally:
        container.remove(force=True)


def test_rest_and_grpc_in_the_container_equal_the_signature_call(container_ports, models, built):
    rest_port, grpc_port = container_ports
    layout = built[2]
    golden = read_golden(layout.golden_dir).single()
    rows = served_rows(rest_port, grpc_port, models[1], golden, f"{TAG} (container)")
    add_rows(layout.reports_dir / "manifest.json", "savedmodel", rows)


def test_a_version_published_into_the_volume_loads_with_no_failed_request(
    container_ports, models, built
):
    rest_port, _ = container_ports
    root, source = models
    golden = read_golden(built[2].golden_dir).single()
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
