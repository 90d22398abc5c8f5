"""The web image (nginx) beside the model-server image on one Docker network: it serves the page,
the bundle and the models from the models volume, proxies /v1/ to the server, and the demo works in
headless Chromium against it (golden samples, compare with server). MODEL_NAME picks the model the
page at / shows; the gallery lists every model the volume holds."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest

from pipeline.config import EXACT
from pipeline.data import read_golden
from pipeline.layout import Layout
from pipeline.verify import score
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
    (models / "reports" / cfg.name).mkdir(parents=True)
    shutil.copy(layout.manifest, models / "reports" / cfg.name / "manifest.json")
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
            environment={"MODEL_NAME": cfg.name},
            detach=True,
        )
        containers.append(web)
        wait_healthy(server)
        wait_healthy(web)
        yield f"http://127.0.0.1:{port}/", read_golden(layout.golden_dir).single(), models
    finally:
        for c in containers:
            c.remove(force=True)
        network.remove()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def test_the_page_bundle_wasm_and_model_are_served(stack):
    url, _, _ = stack
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
    url, golden, _ = stack
    request = urllib.request.Request(
        url + "v1/models/digits:predict",
        data=json.dumps({"instances": golden.x[:8].tolist()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        predictions = np.asarray(json.loads(r.read())["predictions"], dtype=np.float32)
    assert np.max(np.abs(predictions - golden.reference[:8])) <= TOLERANCE


def test_the_demo_in_chromium_matches_keras_and_the_server(stack, chromium):
    url, golden, _ = stack
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


def test_the_model_list_manifests_and_the_model_name_are_served(stack):
    url, _, _ = stack
    status, kind, body = get(url + "config.json")
    assert status == 200 and kind.startswith("application/json")
    assert json.loads(body) == {"model": "digits"}  # from MODEL_NAME
    listing = json.loads(get(url + "models/index.json")[2])  # nginx's listing of reports/
    assert [(e["name"], e["type"]) for e in listing] == [("digits", "directory")]
    manifest = json.loads(get(url + "models/digits/manifest.json")[2])
    assert manifest["model"] == "digits" and manifest["passed"]
    for missing in ("models/nope/manifest.json", "models/../reports/digits/manifest.json"):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(url + missing)
        assert e.value.code in (400, 404)


def test_another_model_s_page_and_the_gallery_in_chromium(stack, engine, chromium, zoo):
    """A second web container set to the tabular zoo model shows its page, built from its
    signature, answering its golden samples as Keras did; the gallery lists both models."""
    _, _, models = stack
    name = "zoo-tabular"
    zoo_layout = Layout(zoo, name)
    shutil.copytree(
        zoo_layout.tfjs_dir, models / "tfjs" / name, ignore=shutil.ignore_patterns("uint8")
    )
    shutil.copytree(zoo_layout.golden_dir, models / "golden" / name)
    (models / "reports" / name).mkdir()
    shutil.copy(zoo_layout.manifest, models / "reports" / name / "manifest.json")
    readable(models)
    port = free_port()
    web = engine.containers.run(
        "web-demo",
        volumes={str(models): {"bind": "/models", "mode": "ro"}},
        ports={"8080/tcp": ("127.0.0.1", port)},
        environment={"MODEL_NAME": name},
        detach=True,
    )
    context = chromium.new_context()
    try:
        wait_healthy(web)
        url = f"http://127.0.0.1:{port}/"
        page = browser.open_demo(context, url)
        assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#error")
        assert page.evaluate("demo.page") == "form"
        golden = read_golden(zoo_layout.golden_dir)
        out = page.evaluate("demo.evaluateGolden()")
        outputs = {k: np.asarray(v, dtype=np.float32) for k, v in out["outputs"].items()}
        _, failures = score(outputs, golden, EXACT)
        assert failures == [], failures
        page.goto(url + "gallery.html")
        page.wait_for_function("document.body.dataset.state === 'ready'")
        cards = page.locator("#gallery .model").evaluate_all("cs => cs.map(c => c.dataset.model)")
        assert cards == ["digits", name]
    finally:
        context.close()
        web.remove(force=True)


def test_a_model_name_that_is_not_one_stops_the_container_with_one_line(engine):
    web = engine.containers.run("web-demo", environment={"MODEL_NAME": "../etc"}, detach=True)
    try:
        assert web.wait(timeout=60)["StatusCode"] == 2
        lines = web.logs().decode().strip().splitlines()
        assert lines == [
            "web: error: MODEL_NAME \"../etc\" is not a model name (letters, digits, '.', '_' and '-')"
        ]
    finally:
        web.remove(force=True)
