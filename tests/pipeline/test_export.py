import json

import numpy as np
import pytest
import tensorflow as tf

from pipeline import export, stages
from pipeline.config import PipelineConfig
from pipeline.data import read_golden
from pipeline.layout import Layout


def test_savedmodel_signatures_have_the_contract_names_dtypes_and_shapes(built):
    _, result, layout = built
    loaded = tf.saved_model.load(str(layout.version_dir(result.version)))
    assert set(loaded.signatures) == {"serving_default", "predict_image"}
    sig = loaded.signatures["serving_default"]
    (spec,) = sig.structured_input_signature[1].values()
    assert list(sig.structured_input_signature[1]) == ["image"]
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, 8, 8, 1]
    out = sig.structured_outputs["probabilities"]
    assert out.dtype == tf.float32 and out.shape.as_list() == [None, 10]
    image_sig = loaded.signatures["predict_image"]
    (bytes_spec,) = image_sig.structured_input_signature[1].values()
    assert bytes_spec.dtype == tf.string and bytes_spec.shape.as_list() == [None]


def test_image_signature_decodes_pngs_to_the_same_prediction(built, digits_png):
    _, result, layout = built
    path, label, x = digits_png
    loaded = tf.saved_model.load(str(layout.version_dir(result.version)))
    from_png = loaded.signatures["predict_image"](image_bytes=tf.constant([path.read_bytes()]))
    from_x = loaded.signatures["serving_default"](image=tf.constant(x[None]))
    np.testing.assert_allclose(
        from_png["probabilities"].numpy(), from_x["probabilities"].numpy(), atol=1e-2
    )
    assert int(from_png["probabilities"].numpy().argmax()) == label


def test_warmup_file_holds_predict_requests_tf_serving_can_replay(built):
    from tensorflow_serving.apis import prediction_log_pb2

    _, result, layout = built
    path = layout.version_dir(result.version) / "assets.extra" / export.WARMUP_FILE
    logs = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(str(path))
    ]
    assert len(logs) == 3
    request = logs[1].predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["image"]).shape == (8, 8, 8, 1)
    assert logs[2].predict_log.request.model_spec.signature_name == "predict_image"


def test_models_config_names_every_model_for_the_serving_image(built):
    _, _, layout = built
    text = (layout.serving_root / "models.config").read_text()
    assert 'name: "digits"' in text and 'base_path: "/models/digits"' in text


def _exported_copy(built, tmp_path):
    """A fresh models/ with the reference model copied in, to export new versions into."""
    import shutil

    _, _, layout = built
    dest = Layout(tmp_path / "models", layout.name)
    shutil.copytree(layout.keras_dir, dest.keras_dir)
    shutil.copytree(layout.golden_dir, dest.golden_dir)
    return dest


def test_a_crash_mid_export_leaves_no_partial_version(built, tmp_path, monkeypatch):
    import keras

    from pipeline.metadata import ModelInfo

    dest = _exported_copy(built, tmp_path)
    model = keras.saving.load_model(dest.keras_model)
    info = ModelInfo.read(dest.keras_dir / "metadata.json")
    x = read_golden(dest.golden_dir).inputs

    def crash(path, *args):
        (path.parent / "half-written").write_text("partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(export, "write_warmup_requests", crash)
    with pytest.raises(OSError, match="simulated"):
        export.publish_version(model, info, dest, 1, x)
    assert dest.versions() == []
    assert not dest.serving_base.exists()  # nothing was renamed into view
    assert list((dest.root / ".staging").iterdir()) == []  # and no scratch tree left behind

    monkeypatch.undo()
    export.publish_version(model, info, dest, 1, x)
    assert dest.versions() == [1]
    assert (dest.version_dir(1) / "saved_model.pb").is_file()


def test_versions_increase_old_ones_stay_servable_and_only_k_are_kept(built, tmp_path):
    import keras

    from pipeline.metadata import ModelInfo

    dest = _exported_copy(built, tmp_path)
    model = keras.saving.load_model(dest.keras_model)
    info = ModelInfo.read(dest.keras_dir / "metadata.json")
    golden = read_golden(dest.golden_dir).single()
    for version in (1, 2, 3):
        export.publish_version(model, info, dest, version, {"image": golden.x})
    assert dest.versions() == [1, 2, 3]
    v1 = tf.saved_model.load(str(dest.version_dir(1))).signatures["serving_default"]
    np.testing.assert_allclose(
        v1(image=tf.constant(golden.x))["probabilities"].numpy(), golden.reference, atol=1e-5
    )
    assert export.prune_versions(dest, keep=2) == [1]
    assert dest.versions() == [2, 3]
    with pytest.raises(FileExistsError):
        export.publish_version(model, info, dest, 3, {"image": golden.x})


def test_a_second_run_publishes_version_2_and_keeps_version_1(built):
    cfg, first, layout = built
    assert first.version == 1  # the fixture publishes into a fresh temporary directory
    before = json.loads(layout.manifest.read_text())
    second = stages.run(
        PipelineConfig(models_dir=cfg.models_dir, compare_trainers=False, latency_runs=5)
    )
    assert second.published and second.version == 2
    assert layout.versions() == [1, 2]
    assert (layout.version_dir(1) / "saved_model.pb").is_file()
    assert json.loads(layout.manifest.read_text())["version"] == 2
    assert before["version"] == 1
    assert not list((cfg.models_dir / ".staging").iterdir())
