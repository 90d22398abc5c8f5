"""Shared fixtures: one real pipeline run into a temporary models/ directory per test session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from pipeline import stages
from pipeline.config import PipelineConfig
from pipeline.layout import Layout


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The default flow on the digits data: trained, exported, converted, verified, published."""
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

    golden = read_golden(built[2].golden_dir)
    i = int(np.argmax(golden.labels == 3))
    big = np.kron(golden.x[i, :, :, 0], np.ones((4, 4)))  # each cell becomes a 4x4 block
    pixels = np.round((1.0 - big) * 255).astype(np.uint8)[..., None]  # ink dark, paper light
    path = tmp_path_factory.mktemp("inputs") / "three.png"
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return path, int(golden.labels[i]), golden.x[i]


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium under Playwright, one per session (Playwright's sync API allows one)."""
    from playwright.sync_api import sync_playwright

    from web import browser

    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()
