"""LiteRT (ai-edge-litert): a .tflite file through its signature runner, quantized I/O handled."""

from __future__ import annotations

import numpy as np

from pipeline.config import SERVING_SIGNATURE
from pipeline.runtimes.base import InProcessRuntime


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """TFLite's affine mapping, real = scale * (q - zero_point), inverted and clamped to dtype."""
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (scale * (q.astype(np.float32) - zero_point)).astype(np.float32)


class LiteRtRuntime(InProcessRuntime):
    name = "litert"

    def load(self, path, info):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=1)
        runner = interpreter.get_signature_runner(SERVING_SIGNATURE)
        in_detail = runner.get_input_details()[info.input_name]
        out_detail = runner.get_output_details()[info.output_name]
        in_scale, in_zero = in_detail["quantization"]
        out_scale, out_zero = out_detail["quantization"]
        in_dtype = in_detail["dtype"]

        def predict(x: np.ndarray) -> np.ndarray:
            if np.issubdtype(in_dtype, np.integer):
                x = quantize(x, in_scale, in_zero, in_dtype)
            else:
                x = x.astype(in_dtype)
            y = runner(**{info.input_name: x})[info.output_name]
            if np.issubdtype(y.dtype, np.integer):
                y = dequantize(y, out_scale, out_zero)
            return y

        return predict
