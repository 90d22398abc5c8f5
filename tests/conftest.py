"""Shared fixtures (one real pipeline run into a temporary models/ directory per test session, a
drawn digit, headless chromium) and the tiers: each test is marked from the fixtures it uses.

Fast tier: pytest tests -m "not model and not server and not containers and not browser"
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import pytest

from pipeline.config import PipelineConfig
from pipeline.layout import Layout

# A test using one of these fixtures, directly or through another fixture, gets the marker.
FIXTURE_MARKERS = {
    "built": "model",  # trains the digits model and runs the pipeline on it
    "user_model": "model",  # tests/pipeline/test_byo.py: trains a model of its own for the pipeline
    "gru": "model",  # trains a recurrent model and runs the pipeline on it
    "two_input_tflite": "model",  # tests/mobile/test_cli.py: exports and converts a model
    "text_model": "model",  # tests/pipeline/test_any_model.py: a text model through the pipeline
    "small_model": "model",  # tests/pipeline/conftest.py: a quick model for runs killed, at once, disk full
    "zoo": "model",  # every examples/ model through the pipeline (examples/zoo.py)
    "strokes_model": "model",  # a single-channel image model (not the digits') through the pipeline
    "server": "server",  # tests/serving/conftest.py: the session's server process
    "start_server": "server",  # tests/serving/conftest.py: a server per test
    "run_server": "server",  # tests/serving/conftest.py: `python -m serving` to its exit
    "model_server": "server",  # tests/system/browser/conftest.py: behind the demo page
    "chromium": "browser",
}
# web_url reaches built and model_server through request.getfixturevalue, which fixturenames
# cannot see; it needs neither when WEB_URL points the browser tests at a running deployment.
DYNAMIC_MARKERS = {"web_url": ("model", "server")}
FOLDER_MARKERS = {
    Path(__file__).parent / "system" / "containers": "containers",
    Path(__file__).parent / "system" / "faults": "containers",
    Path(__file__).parent / "system" / "swarm": "containers",
}


def pytest_collection_modifyitems(items):
    for item in items:
        names = set(item.fixturenames)  # the transitive closure of the fixtures it requests
        markers = {m for fixture, m in FIXTURE_MARKERS.items() if fixture in names}
        if not os.environ.get("WEB_URL"):
            for fixture, needs in DYNAMIC_MARKERS.items():
                if fixture in names:
                    markers.update(needs)
        for folder, m in FOLDER_MARKERS.items():
            if item.path.is_relative_to(folder):
                markers.add(m)
        for m in sorted(markers):
            item.add_marker(m)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The default flow on the digits data: trained, exported, converted, verified, published."""
    from pipeline import stages  # here: TensorFlow's import is for the tiers that train

    cfg = PipelineConfig(models_dir=tmp_path_factory.mktemp("models"))
    result = stages.run(cfg)
    assert result.published, result.manifest
    return cfg, result, Layout(cfg.models_dir, cfg.name)


@pytest.fixture(scope="session")
def digits_png(tmp_path_factory, built):
    """A golden-set digit drawn as a 32x32 dark-on-light PNG, with its label."""
    import numpy as np
    import tensorflow as tf

    from pipeline.data import read_golden

    golden = read_golden(built[2].golden_dir).single()
    i = int(np.argmax(golden.labels == 3))
    big = np.kron(golden.x[i, :, :, 0], np.ones((4, 4)))  # each cell becomes a 4x4 block
    pixels = np.round((1.0 - big) * 255).astype(np.uint8)[..., None]  # ink dark, paper light
    path = tmp_path_factory.mktemp("inputs") / "three.png"
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return path, int(golden.labels[i]), golden.x[i]


@pytest.fixture(scope="session")
def gru(tmp_path_factory):
    """A GRU over 12 frames of 5 features (the class is which of three features is raised),
    trained briefly and run through the pipeline: (RunResult, Layout, samples.npz)."""
    import keras
    import numpy as np

    from pipeline import stages
    from pipeline.config import PipelineConfig
    from pipeline.layout import Layout

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    x = (rng.normal(size=(240, 12, 5)) * 0.3).astype(np.float32)
    x[..., :3] += np.eye(3, dtype=np.float32)[y][:, None, :]
    frames = keras.Input((12, 5), name="frames")
    scores = keras.layers.Dense(3, activation="softmax", name="scores")(keras.layers.GRU(8)(frames))
    model = keras.Model(frames, scores)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=15, verbose=0)
    root = tmp_path_factory.mktemp("gru")
    model.save(root / "gru.keras")
    np.savez(root / "samples.npz", x=x[:60], y=y[:60])
    models = root / "models"
    cfg = PipelineConfig(name="gru", models_dir=models, latency_runs=3)
    result = stages.run(cfg, root / "gru.keras", root / "samples.npz")
    return result, Layout(models, "gru"), root / "samples.npz"


@pytest.fixture(scope="session")
def strokes_model(tmp_path_factory):
    """A single-channel image model that is not the digits': 12x12 images of one bright stroke,
    vertical, horizontal or diagonal (the class), trained briefly and run through the pipeline.
    (RunResult, Layout)."""
    import keras
    import numpy as np

    from pipeline import stages

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    x = (rng.random((n, 12, 12)) * 0.1).astype(np.float32)
    at = rng.integers(2, 10, n)
    for i in range(n):
        if y[i] == 0:
            x[i, :, at[i]] = 1.0
        elif y[i] == 1:
            x[i, at[i], :] = 1.0
        else:
            np.fill_diagonal(x[i], 1.0)
    image = keras.Input((12, 12, 1), name="image")
    scores = keras.layers.Dense(3, activation="softmax", name="stroke")(
        keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    )
    model = keras.Model(image, scores)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[..., None], y, epochs=20, verbose=0)
    root = tmp_path_factory.mktemp("strokes")
    model.save(root / "strokes.keras")
    np.savez(root / "samples.npz", image=x[:60, ..., None], y=y[:60])
    models = root / "models"
    cfg = PipelineConfig(name="strokes", models_dir=models, latency_runs=3)
    result = stages.run(cfg, root / "strokes.keras", root / "samples.npz")
    return result, Layout(models, "strokes")


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """Every examples/ model trained and published as zoo-<kind> by `examples/zoo.py`, exactly
    as `make zoo` does, into a temporary models directory (returned)."""
    import subprocess
    import sys

    models = tmp_path_factory.mktemp("zoo-models")
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, str(root / "examples" / "zoo.py"), "--models-dir", str(models)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return models


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium under Playwright, one per session (Playwright's sync API allows one)."""
    from playwright.sync_api import sync_playwright

    from web import browser

    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()
