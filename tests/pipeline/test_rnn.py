"""A recurrent model reaches the edge and the browser: TFLite traced at batch 1, TF.js through
executeAsync, and a converter crash costs its target, not the run."""

import json

import numpy as np

from mobile import TfliteModel
from pipeline.convert.tflite import FIXED_BATCH_NOTE
from pipeline.outcomes import NOT_SUPPORTED, VERIFIED


def test_a_gru_reaches_tflite_at_batch_one_and_tfjs_through_execute_async(gru):
    result, layout, samples = gru

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

    edge = TfliteModel(layout.tflite_dir / "fp32.tflite", "litert")
    assert edge.input.shape[0] == 1  # the batch the loop was traced at
    x = np.load(samples)["x"][:7]
    reference = json.loads((layout.golden_dir / "golden.json").read_text())["reference"][:7]
    np.testing.assert_allclose(edge(x), reference, atol=1e-4)  # a batch of 7, in turns
