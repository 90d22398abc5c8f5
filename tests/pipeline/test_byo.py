"""Bring your own model: names and shapes come from the user's model, not the digits contract."""

import json
from dataclasses import replace

import keras
import numpy as np
import pytest

from pipeline import stages
from pipeline.__main__ import main
from pipeline.config import Gate, PipelineConfig
from pipeline.convert import ConversionError, Converter
from pipeline.layout import Layout
from pipeline.outcomes import MISSED_GATE, NOT_SUPPORTED, VERIFIED
from pipeline.targets import TARGETS


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """A 3-class classifier over 12 features, trained briefly on separable synthetic data."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = (rng.normal(size=(300, 12)) * 0.3 + np.eye(3)[y].repeat(4, axis=1)).astype(np.float32)
    features = keras.Input((12,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(features)
    scores = keras.layers.Dense(3, activation="softmax", name="scores")(hidden)
    model = keras.Model(features, scores)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=30, verbose=0)
    root = tmp_path_factory.mktemp("byo")
    model.save(root / "mine.keras")
    np.savez(root / "samples.npz", x=x[:120], y=y[:120])
    np.savez(root / "unlabelled.npz", x=x[:60])
    return root


def test_user_model_is_exported_converted_and_verified_under_its_own_names(user_model, tmp_path):
    cfg = PipelineConfig(name="mine", models_dir=tmp_path, latency_runs=5)
    result = stages.run(cfg, user_model / "mine.keras", user_model / "samples.npz")
    manifest = result.manifest
    assert manifest["inputs"] == [{"name": "features", "shape": [None, 12], "dtype": "float32"}]
    assert [o["name"] for o in manifest["outputs"]] == ["scores"]
    rows = {(r.target, r.runtime): r for r in result.rows}
    for target in ("savedmodel", "tflite-fp32", "tflite-int8", "tfjs"):
        row = next(r for (t, _), r in rows.items() if t == target)
        assert row.passed, (target, row.reason)
        assert row.accuracy is not None
    assert result.published
    layout = Layout(tmp_path, "mine")
    import tensorflow as tf

    sig = tf.saved_model.load(str(layout.version_dir(1))).signatures
    assert list(sig) == ["serving_default"]  # no image signature for a non-image model
    assert list(sig["serving_default"].structured_input_signature[1]) == ["features"]
    meta = json.loads((layout.tflite_dir / "metadata.json").read_text())
    assert meta["input_name"] == "features" and meta["input_shape"] == [None, 12]


def test_unlabelled_samples_get_agreement_only_gates(user_model, tmp_path):
    cfg = PipelineConfig(name="mine", models_dir=tmp_path, latency_runs=3)
    result = stages.run(cfg, user_model / "mine.keras", user_model / "unlabelled.npz")
    assert result.published
    for row in (r for r in result.rows if r.gating):
        assert row.accuracy is None
        assert row.top1_agreement is not None


def test_samples_of_the_wrong_shape_are_rejected_before_anything_is_written(user_model, tmp_path):
    from pipeline.errors import UserError

    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 8, 8, 1), np.float32))
    cfg = PipelineConfig(name="mine", models_dir=tmp_path / "models")
    with pytest.raises(UserError, match=r"shape \[4, 8, 8, 1\], the model takes \['N', 12\]"):
        stages.run(cfg, user_model / "mine.keras", tmp_path / "bad.npz")
    leftovers = [p for p in (tmp_path / "models").rglob("*") if p.is_file()]
    assert leftovers == []


class Refuses(Converter):
    """A converter that cannot take the model, as TFLite cannot take some control flow."""

    def convert(self, ctx, out):
        raise ConversionError("Unsupported op in the model: Exit (refused on purpose)")


def test_targets_that_fail_are_left_out_and_the_rest_is_published(
    user_model, tmp_path, monkeypatch
):
    monkeypatch.setitem(TARGETS, "tfjs-uint8", replace(TARGETS["tfjs-uint8"], converter=Refuses()))
    impossible = Gate(max_abs_diff=1e-12)  # no int8 model reproduces float outputs this closely
    cfg = PipelineConfig(
        name="mine", models_dir=tmp_path, latency_runs=3, gates={"tflite-int8": impossible}
    )
    result = stages.run(cfg, user_model / "mine.keras", user_model / "samples.npz")

    assert result.published and result.blocking == []
    status = {t: o.status for t, o in result.outcomes.items()}
    assert status["tflite-int8"] == MISSED_GATE and status["tfjs-uint8"] == NOT_SUPPORTED
    assert {status[t] for t in ("keras", "savedmodel", "tflite-fp32", "tfjs")} == {VERIFIED}
    layout = Layout(tmp_path, "mine")
    assert TARGETS["tflite-fp32"].path(layout).is_file()
    assert not TARGETS["tflite-int8"].path(layout).exists()
    assert not TARGETS["tfjs-uint8"].path(layout).exists()
    assert (layout.tfjs_dir / "model.json").is_file()
    recorded = json.loads((layout.tflite_dir / "metadata.json").read_text())["artifacts"]
    assert "tflite-fp32" in recorded and "tflite-int8" not in recorded
    entries = {a["target"]: a for a in json.loads(layout.manifest.read_text())["artifacts"]}
    assert entries["tflite-fp32"]["published"] and not entries["tflite-int8"]["published"]
    assert entries["tflite-int8"]["reason"].startswith("litert: max|Δ|")
    assert (
        entries["tfjs-uint8"]["reason"] == "Unsupported op in the model: Exit (refused on purpose)"
    )
    report = (layout.reports_dir / "report.md").read_text()
    assert "| tflite-int8 | missed gate | no |" in report


def test_a_required_target_that_fails_publishes_nothing(user_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(
        TARGETS, "tflite-int8", replace(TARGETS["tflite-int8"], converter=Refuses())
    )
    model, samples = str(user_model / "mine.keras"), str(user_model / "unlabelled.npz")
    args = ["run", "--name", "mine", "--models-dir", str(tmp_path), "--model", model]
    code = main([*args, "--samples", samples, "--require", "tflite-int8,tfjs"])

    assert code == 1
    err = capsys.readouterr().err
    assert "required target(s) not verified: tflite-int8 (not supported)" in err
    assert not (tmp_path / "serving").exists() and not (tmp_path / "tflite").exists()
    kept = list((tmp_path / ".failed").iterdir())
    assert len(kept) == 1 and (kept[0] / "reports" / "mine" / "report.html").is_file()


def test_require_names_only_known_targets(tmp_path, capsys):
    code = main(["run", "--models-dir", str(tmp_path), "--require", "tflite-int4"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: --require: unknown target 'tflite-int4'")
