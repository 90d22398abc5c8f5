"""Browser tests: Playwright drives Debian's chromium headless against the demo page.

By default the page is built from the session's pipeline run and served by the local static server
(web/devserver.py), which proxies /v1/ to a real model server. WEB_URL=http://host:port/ points
the tests at a running deployment instead (the web container): the golden inputs and reference
outputs are then read from that page, so the same tests check what it serves.
"""

from __future__ import annotations

import json
import os

import pytest

from serving.process import ServerProcess
from web import browser


@pytest.fixture(scope="session")
def web_dist(built, tmp_path_factory):
    cfg, _, _ = built
    return browser.build(cfg.models_dir, cfg.name, tmp_path_factory.mktemp("web") / "dist")


@pytest.fixture(scope="session")
def model_server(built, tmp_path_factory):
    cfg, _, layout = built
    log = tmp_path_factory.mktemp("server") / "server.log"
    flags = [f"--model_name={cfg.name}", f"--model_base_path={layout.serving_base}"]
    with ServerProcess(flags, log=log) as server:
        yield server


@pytest.fixture(scope="session")
def web_url(request):
    """The page under test: $WEB_URL, or the local static server over the session's build."""
    if os.environ.get("WEB_URL"):
        yield os.environ["WEB_URL"].rstrip("/") + "/"
        return
    dist = request.getfixturevalue("web_dist")
    server = request.getfixturevalue("model_server")
    with browser.static_server(dist, server.rest_url) as url:
        yield url


@pytest.fixture
def context(chromium):
    """A fresh profile per test: empty IndexedDB, so every test starts from the network."""
    ctx = chromium.new_context(viewport={"width": 1100, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, web_url):
    errors = []
    page = browser.open_demo(context, web_url)
    page.on("pageerror", lambda e: errors.append(str(e)))
    assert page.evaluate("document.body.dataset.state") == "ready", page.text_content("#error")
    yield page
    assert not errors, errors  # never an uncaught error


@pytest.fixture(scope="session")
def golden_doc(web_url):
    """golden.json as the page under test serves it."""
    import urllib.request

    with urllib.request.urlopen(web_url + "models/digits/golden.json", timeout=10) as r:
        return json.loads(r.read())
