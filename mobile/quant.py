"""TFLite's affine quantization: real = scale * (q - zero_point), for int8/uint8 inputs and outputs.

The formula and its rounding follow TFLite's own quantize kernel (reference_ops::AffineQuantize:
round half away from zero of x / scale, plus the zero point, clamped to the type's range) and the
spec at https://ai.google.dev/edge/litert/models/quantization_spec.
"""

from __future__ import annotations

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Real values to the integer type, as TFLite's QUANTIZE op would."""
    info = np.iinfo(dtype)
    v = np.asarray(x, dtype=np.float32) / np.float32(scale)
    rounded = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))  # TfLiteRound, not banker's
    return np.clip(rounded + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers back to float32 real values, as TFLite's DEQUANTIZE op would."""
    return (np.float32(scale) * (q.astype(np.float32) - np.float32(zero_point))).astype(np.float32)


def is_quantized(dtype, scale: float) -> bool:
    """An integer tensor with a scale carries real values; a plain int32 index tensor does not."""
    return bool(np.issubdtype(np.dtype(dtype), np.integer) and scale != 0.0)
