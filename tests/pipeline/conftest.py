"""Fixtures for the pipeline tests that run `python -m pipeline` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.repo import ROOT


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A 3-class classifier over 4 features: the quickest model that goes through every target."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    x = (rng.normal(size=(240, 4)) * 0.3 + np.eye(3, 4)[y]).astype(np.float32)
    features = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu")(features)
    model = keras.Model(
        features, keras.layers.Dense(3, activation="softmax", name="scores")(hidden)
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=20, verbose=0)
    root = tmp_path_factory.mktemp("small")
    model.save(root / "small.keras")
    np.savez(root / "samples.npz", x=x[:80], y=y[:80])
    return root


def start_run(small_model: Path, models: Path, name: str) -> subprocess.Popen:
    args = ["run", "--name", name, "--models-dir", str(models)]
    args += [
        "--model",
        str(small_model / "small.keras"),
        "--samples",
        str(small_model / "samples.npz"),
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
