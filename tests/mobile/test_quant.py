"""Quantized I/O: TFLite's affine mapping, and an int8 model called with floats like the fp32 one."""

import numpy as np
import pytest

from mobile import TfliteModel
from mobile.quant import dequantize, is_quantized, quantize


@pytest.mark.parametrize(("dtype", "zero_point"), [(np.int8, -128), (np.int8, 3), (np.uint8, 0)])
def test_quantize_dequantize_round_trip_is_within_half_a_step(dtype, zero_point):
    scale = 1 / 255
    info = np.iinfo(dtype)
    x = np.linspace(scale * (info.min - zero_point), scale * (info.max - zero_point), 1001)
    q = quantize(x.astype(np.float32), scale, zero_point, dtype)
    assert q.dtype == dtype and q.min() == info.min and q.max() == info.max
    assert np.max(np.abs(dequantize(q, scale, zero_point) - x)) <= scale / 2 + 1e-6
    assert np.array_equal(quantize(dequantize(q, scale, zero_point), scale, zero_point, dtype), q)


def test_quantize_rounds_half_away_from_zero_and_clamps_like_tflite():
    # numpy rounds half to even; TFLite's kernels use TfLiteRound (std::round): 0.5 -> 1, 2.5 -> 3
    q = quantize(np.array([0.5, 2.5, -0.5, -2.5, 1e6, -1e6], np.float32), 1.0, -127, np.int8)
    assert q.tolist() == [-126, -124, -128, -128, 127, -128]
    assert is_quantized(np.int8, 0.1) and not is_quantized(np.int32, 0.0)
    assert not is_quantized(np.float32, 0.0)


def test_float_input_to_the_int8_model_is_quantized_and_its_output_dequantized(built):
    """TfliteModel equals the hand-written LiteRT path, and keeps the Keras reference's answers."""
    from ai_edge_litert.interpreter import Interpreter

    from pipeline.data import read_golden

    _, _, layout = built
    path = layout.tflite_dir / "int8.tflite"
    golden = read_golden(layout.golden_dir).single()
    x = golden.x

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    inp = runner.get_input_details()["image"]
    out = runner.get_output_details()["probabilities"]
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8 and in_scale > 0
    # inputs are in [0, 1], so round-half-away-from-zero is floor(v + 0.5)
    q = np.clip(np.floor(x / np.float32(in_scale) + 0.5) + in_zero, -128, 127).astype(np.int8)
    raw = runner(image=q)["probabilities"]
    manual = np.float32(out_scale) * (raw.astype(np.float32) - out_zero)

    model = TfliteModel(path, "litert")
    assert model.input.quantized and model.output.quantized
    y = model(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, manual)
    # the quantized model keeps the reference's decisions, probabilities within a few steps
    assert np.mean(y.argmax(1) == golden.reference.argmax(1)) >= 0.97
    assert np.max(np.abs(y - golden.reference)) <= 0.1
    accuracy = np.mean(y.argmax(1) == golden.labels)
    assert accuracy >= np.mean(golden.reference.argmax(1) == golden.labels) - 0.02
