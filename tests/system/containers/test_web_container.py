"""The web image (nginx) beside the model-server image on one Docker network: it serves the page,
the bundle and the model from the models volume, proxies /v1/ to the server, and the demo works in
headless Chromium against it (golden samples, compare with server)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import uuid

import numpy as np
import pytest

from pipeline.data import read_golden
from serving.process import free_port
from tests.system.containers.conftest import image, readable, wait_healthy
from web import browser

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def stack(engine, built, tmp_path_factory):
    """model-server and web-demo containers; the page on a free 127.0.0.1 port."""
    cfg, result, layout = built
    image(engine, "model-server")
    image(engine, "web-demo")
    models = tmp_path_factory.mktemp("web-stack-models")
    shutil.copytree(layout.version_dir(result.version), models / "serving" / cfg.name / "1")
    shutil.copytree(layout.tfjs_dir, models / "tfjs" / cfg.name)
    shutil.copytree(layout.golden_dir, models / "golden" / cfg.name)
    readable(models)
    network = engine.networks.create(f"keras-deploy-test-{uuid.uuid4().hex[:8]}")
    containers = []
    try:
        server = engine.containers.run(
            "model-server",
            volumes={str(models / "serving"): {"bind": "/models", "mode": "ro"}},
            network=network.name,
            detach=True,
        )
        containers.append(server)
        network.disconnect(server)
        network.connect(server, aliases=["model-server"])
        port = free_port()
        web = engine.containers.run(
            "web-demo",
            volumes={str(models): {"bind": "/models", "mode": "ro"}},
            network=network.name,
            ports={"8080/tcp": ("127.0.0.1", port)},
            detach=True,
        )
        containers.append(web)
        wait_healthy(server)
        wait_healthy(web)
        yield f"http://127.0.0.1:{port}/", read_golden(layout.golden_dir).single()
    finally:
        for c in containers:
            c.remove(force=True)
        network.remove()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def test_the_page_bundle_wasm_and_model_are_served(stack):
    url, _ = stack
    status, kind, body = get(url)
    assert status == 200 and kind.startswith("text/html") and b"app.js" in body
    assert get(url + "app.js")[0] == 200
    wasm = [
        n
        for n in os.listdir(browser.WEB_DIR / "node_modules/@tensorflow/tfjs-backend-wasm/dist")
        if n.endswith(".wasm")
    ]
    status, kind, _ = get(url + "wasm/" + wasm[0])
    assert status == 200 and kind == "application/wasm"
    status, _, body = get(url + "models/digits/model.json")
    assert status == 200 and "weightsManifest" in json.loads(body)
    assert get(url + "models/digits/golden.json")[0] == 200


def test_v1_is_proxied_to_the_model_server(stack):
    url, golden = stack
    request = urllib.request.Request(
        url + "v1/models/digits:predict",
        data=json.dumps({"instances": golden.x[:8].tolist()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        predictions = np.asarray(json.loads(r.read())["predictions"], dtype=np.float32)
    assert np.max(np.abs(predictions - golden.reference[:8])) <= TOLERANCE


def test_the_demo_in_chromium_matches_keras_and_the_server(stack, chromium):
    url, golden = stack
    context = chromium.new_context()
    try:
        page = browser.open_demo(context, url)
        assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#error")
        sample = page.locator("#samples .sample").first
        index = int(sample.get_attribute("data-index"))
        sample.click()
        page.wait_for_function("demo.idle()")
        shown = np.array(json.loads(page.get_attribute("#top3", "data-probabilities")))
        assert np.max(np.abs(shown - golden.reference[index])) <= TOLERANCE
        page.click("#compare")
        page.wait_for_function(
            "document.getElementById('server-result').dataset.pending === 'false'"
        )
        assert page.get_attribute("#server-result", "data-error") is None
        assert float(page.get_attribute("#server-result", "data-max-abs-diff")) <= TOLERANCE
    finally:
        context.close()
