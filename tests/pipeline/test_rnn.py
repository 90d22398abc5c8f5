"""A recurrent model reaches the edge and the browser: TFLite traced at batch 1, TF.js through
executeAsync, and a converter crash costs its target, not the run."""

import json

import keras
import numpy as np
import pytest

from mobile import TfliteModel
from pipeline import stages
from pipeline.config import PipelineConfig
from pipeline.convert.tflite import FIXED_BATCH_NOTE
from pipeline.layout import Layout
from pipeline.outcomes import NOT_SUPPORTED, VERIFIED


@pytest.fixture(scope="module")
def gru(tmp_path_factory):
    """A GRU over 12 frames of 5 features; the class is which of three features is raised."""
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
    return root


def test_a_gru_reaches_tflite_at_batch_one_and_tfjs_through_execute_async(gru, tmp_path):
    cfg = PipelineConfig(name="gru", models_dir=tmp_path, latency_runs=3)
    result = stages.run(cfg, gru / "gru.keras", gru / "samples.npz")

    assert result.published
    status = {t: o.status for t, o in result.outcomes.items()}
    for target in ("savedmodel", "tflite-fp32", "tflite-fp16", "tflite-dynamic", "tfjs"):
        assert status[target] == VERIFIED, result.outcomes[target]
    notes = {c["target"]: c["note"] for c in result.manifest["conversions"]}
    assert notes["tflite-fp32"] == FIXED_BATCH_NOTE and notes["tfjs"] == ""
    # int8 either converts or is reported (TensorFlow 2.21's converter crashes calibrating it);
    # either way the run went on and said which
    assert status["tflite-int8"] in (VERIFIED, NOT_SUPPORTED)
    if status["tflite-int8"] == NOT_SUPPORTED:
        assert "crashed" in result.outcomes["tflite-int8"].reason

    layout = Layout(tmp_path, "gru")
    edge = TfliteModel(layout.tflite_dir / "fp32.tflite", "litert")
    assert edge.input.shape[0] == 1  # the batch the loop was traced at
    x = np.load(gru / "samples.npz")["x"][:7]
    reference = json.loads((layout.golden_dir / "golden.json").read_text())["reference"][:7]
    np.testing.assert_allclose(edge(x), reference, atol=1e-4)  # a batch of 7, in turns
