"""docker-compose.yml as a user drives it, through docker/compose.sh (what `make docker-up` runs):
`run trainer` fills an empty models directory, `up` brings the server, the web demo and TensorBoard
to healthy, `run edge` runs a TFLite model, and the `official` profile swaps the server. Every
container is reached through 127.0.0.1 ports; `down` removes everything even when a test fails."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import numpy as np
import pytest
import yaml

from pipeline.config import ROOT
from pipeline.data import read_golden
from pipeline.manifest import add_rows
from serving.process import free_port
from tests.serving.conftest import Rest
from tests.system.containers.conftest import image, served_rows

NAME = "digits"


def run_compose(env, *args, timeout=900) -> subprocess.CompletedProcess:
    """docker/compose.sh ARGS, as a user runs it from the repository."""
    return subprocess.run(
        ["bash", "docker/compose.sh", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def compose(env, *args, timeout=900):
    """docker/compose.sh ARGS; its output, or the failure with that output."""
    done = run_compose(env, *args, timeout=timeout)
    assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"[-4000:]
    return done.stdout


def services(engine, project):
    """{service: container} of the project's running containers."""
    found = engine.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    return {c.labels["com.docker.compose.service"]: c for c in found}


def json_at(port, path, body=None):
    """GET path (POST body, if given) on 127.0.0.1:port: the JSON of its 200 answer."""
    client = Rest(port)
    code, _, doc = client.get(path) if body is None else client.post(path, body)
    client.conn.close()
    assert code == 200, doc
    return doc


def test_the_compose_file_is_valid_in_every_profile():
    for profiles in ("project", "official", "project,tools"):
        env = {**os.environ, "COMPOSE_PROFILES": profiles}
        compose(env, "config", "-q")
    doc = yaml.safe_load(compose(dict(os.environ), "config"))
    server, official = doc["services"]["model-server"], doc["services"]["tf-serving"]
    # the swap is the image alone: same flags, volumes, ports and health check
    for key in ("command", "volumes", "ports", "healthcheck", "environment"):
        assert server[key] == official[key], key
    assert (
        official["image"].startswith("tensorflow/serving:") and ":latest" not in official["image"]
    )
    assert "model-server" in official["networks"]["default"]["aliases"]
    assert all(
        port.startswith("127.0.0.1:")
        for s in doc["services"].values()
        for port in s.get("ports", [])
    )


@pytest.fixture(scope="module")
def system(engine, tmp_path_factory):
    """`run --rm trainer` into an empty models directory, then `up` on it (free ports)."""
    for tag in ("model-server", "web-demo", "trainer", "edge-litert"):
        image(engine, tag)
    models = tmp_path_factory.mktemp("compose") / "models"
    models.mkdir()
    models.chmod(0o777)  # the trainer writes as uid 10001
    project = f"kdtest{uuid.uuid4().hex[:8]}"
    ports = {p: free_port() for p in ("REST_PORT", "GRPC_PORT", "WEB_PORT", "TENSORBOARD_PORT")}
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "COMPOSE_PROJECT_NAME": project,
        "MODELS_DIR": str(models),
        "COMPOSE_PROFILES": "project",
    }
    try:
        compose(env, "run", "--rm", "trainer")
        up = compose(env, "up")
        yield {"env": env, "ports": ports, "models": models, "project": project, "up": up}
    finally:
        everything = {**env, "COMPOSE_PROFILES": "project,official,tools"}
        run_compose(everything, "down", "-v", "--remove-orphans", timeout=300)
        left = engine.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={project}"}
        )
        assert left == [], [c.name for c in left]


def test_run_trainer_publishes_a_gated_model_into_the_volume(system):
    models = system["models"]
    manifest = json.loads((models / "reports" / NAME / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert (models / "serving" / NAME / "1" / "saved_model.pb").is_file()
    rows = [r for a in manifest["artifacts"] for r in a["verification"] if r.get("gating", True)]
    assert rows and all(r["passed"] for r in rows)


def test_run_trainer_on_a_directory_it_cannot_write_says_so_in_one_line(system, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o755)  # root's; the trainer runs as uid 10001
    env = {**system["env"], "MODELS_DIR": str(locked)}
    done = run_compose(env, "run", "--rm", "trainer", timeout=300)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    # the run takes its model name's lock first, so it stops before any training
    assert errors == ["error: cannot write /models/.locks: permission denied for uid 10001"]
    assert "Traceback" not in done.stderr
    assert list(locked.iterdir()) == []


def test_up_brings_every_service_to_healthy_on_its_port(system, engine):
    running = services(engine, system["project"])
    assert set(running) == {"model-server", "web", "tensorboard"}
    for service, container in running.items():
        assert container.attrs["State"]["Health"]["Status"] == "healthy", service
    ports = system["ports"]
    assert f"http://127.0.0.1:{ports['WEB_PORT']}/" in system["up"]
    assert f"127.0.0.1:{ports['GRPC_PORT']}" in system["up"]


def test_the_server_answers_rest_and_grpc_like_the_signature(system):
    models, ports = system["models"], system["ports"]
    golden = read_golden(models / "golden" / NAME).single()
    rows = served_rows(
        ports["REST_PORT"],
        ports["GRPC_PORT"],
        models / "serving" / NAME / "1",
        golden,
        "docker-compose model-server (container)",
    )
    add_rows(models / "reports" / NAME / "manifest.json", "savedmodel", rows)
    client = Rest(ports["REST_PORT"])
    code, _, metrics = client.get("/monitoring/prometheus/metrics")
    client.conn.close()
    assert code == 200 and ":tensorflow:serving:request_count" in metrics  # the mounted config


def test_the_web_demo_serves_the_model_and_proxies_v1(system):
    models, web = system["models"], system["ports"]["WEB_PORT"]
    assert "weightsManifest" in json_at(web, f"/models/{NAME}/model.json")
    golden = read_golden(models / "golden" / NAME).single()
    doc = json_at(web, f"/v1/models/{NAME}:predict", {"instances": golden.x[:8].tolist()})
    predictions = np.asarray(doc["predictions"], dtype=np.float32)
    assert np.max(np.abs(predictions - golden.reference[:8])) <= 1e-4


def test_tensorboard_shows_the_training_runs(system):
    runs = json_at(system["ports"]["TENSORBOARD_PORT"], "/data/runs")
    assert f"{NAME}/keras/train" in runs and f"{NAME}/keras/validation" in runs


def test_run_edge_predicts_with_the_int8_model(system):
    models = system["models"]
    golden = read_golden(models / "golden" / NAME).single()
    probe = models / "probe.npy"
    np.save(probe, golden.x[:5])
    probe.chmod(0o644)
    out = compose(
        system["env"], "run", "--rm", "edge", "predict",
        f"/models/tflite/{NAME}/int8.tflite", "/models/probe.npy", "--top", "1",
    )  # fmt: skip
    top = [int(line.split()[1].rstrip(":")) for line in out.splitlines() if line.startswith("[")]
    assert top == golden.reference[:5].argmax(axis=1).tolist()


def test_the_official_profile_swaps_the_server_behind_the_same_names(system, engine):
    """Where no registry is reachable the official image cannot be pulled: TF_SERVING_IMAGE points
    the profile at the project's image (same layout and flags), which proves the profile's wiring:
    only the swapped service runs, it gets healthy, and the web demo's proxy reaches it."""
    env = {**system["env"], "COMPOSE_PROFILES": "official", "TF_SERVING_IMAGE": "model-server"}
    compose({**system["env"], "COMPOSE_PROFILES": "project"}, "down")
    compose(env, "up")
    running = services(engine, system["project"])
    assert set(running) == {"tf-serving", "web", "tensorboard"}
    assert running["tf-serving"].attrs["State"]["Health"]["Status"] == "healthy"
    web, model = system["ports"]["WEB_PORT"], f"/v1/models/{NAME}"
    status = json_at(web, model)["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("1", "AVAILABLE")]
    golden = read_golden(system["models"] / "golden" / NAME).single()
    doc = json_at(web, model + ":predict", {"instances": golden.x[:4].tolist()})
    assert np.argmax(doc["predictions"], axis=1).tolist() == golden.reference[:4].argmax(1).tolist()
