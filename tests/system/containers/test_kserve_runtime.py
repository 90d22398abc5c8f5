"""deploy/kserve's ServingRuntime, run as KServe would run it: its container spec (image, command,
args with {{.Name}} filled in, user) in Docker, the session's SavedModel mounted at /mnt/models as
KServe's storage initializer mounts it. The official Open Inference Protocol clients
(tritonclient, unchanged) then get the signature's outputs from its REST and gRPC ports."""

from __future__ import annotations

import shutil
import time
import types
import urllib.error
import urllib.request

import numpy as np
import pytest
import yaml

from serving.process import free_port
from tests.repo import ROOT
from tests.serving.test_oip import run_client
from tests.system.containers.conftest import image, readable

TOLERANCE = 1e-6


def runtime_container() -> dict:
    runtime = yaml.safe_load((ROOT / "deploy/kserve/serving-runtime.yaml").read_text())
    (c,) = runtime["spec"]["containers"]
    return c


@pytest.fixture(scope="module")
def runtime(engine, built, tmp_path_factory):
    """The runtime's container on free 127.0.0.1 ports, serving the session's digits model."""
    cfg, result, layout = built
    image(engine, "model-server")
    mnt = tmp_path_factory.mktemp("kserve-mnt")
    shutil.copytree(layout.version_dir(result.version), mnt / "models" / "1")
    readable(mnt)
    spec = runtime_container()
    security = spec["securityContext"]
    rest, grpc = free_port(), free_port()
    container = engine.containers.run(
        spec["image"],
        entrypoint=spec["command"],
        command=[a.replace("{{.Name}}", cfg.name) for a in spec["args"]],
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        cap_drop=["ALL"],
        volumes={str(mnt / "models"): {"bind": "/mnt/models", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", rest), "9000/tcp": ("127.0.0.1", grpc)},
        detach=True,
    )
    try:
        probe = spec["readinessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest}{probe}", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                raise AssertionError(container.logs().decode(errors="replace")[-2000:])
            time.sleep(1)
        server = types.SimpleNamespace(
            rest_url=f"http://127.0.0.1:{rest}", grpc_target=f"127.0.0.1:{grpc}"
        )
        yield server, layout.version_dir(result.version), cfg.name
    finally:
        container.remove(force=True)


def test_the_runtime_serves_the_open_inference_protocol_to_the_official_clients(
    runtime, built, tmp_path
):
    import tensorflow as tf

    from pipeline.data import read_golden

    server, version_dir, name = runtime
    x = read_golden(built[2].golden_dir).single().x[:16]
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    want = {k: v.numpy() for k, v in signature(image=tf.constant(x)).items()}
    report, outputs = run_client(server, name, {"image": x}, tmp_path)
    assert {k.split("/")[0] for k in outputs} == {
        "http",
        "http-json",
        "http-one",
        "grpc",
        "grpc-one",
    }
    for key, got in outputs.items():
        assert np.max(np.abs(got - want[key.split("/")[1]])) <= TOLERANCE, key
    for tag in ("http", "grpc"):
        assert report[tag]["ready"] and report[tag]["model_ready"]
        assert report[tag]["model"]["name"] == name
        assert report[tag]["errors"]["unknown model"]["status"] in ("404", "StatusCode.NOT_FOUND")
