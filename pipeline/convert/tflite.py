"""TFLite: fp32, fp16, dynamic-range and full-integer int8, each with the serving signature.

Uses TensorFlow's TFLiteConverter: it is the converter that ships with the TensorFlow we train
with, it keeps the SavedModel's signature names, and it alone gives int8 input *and* output
tensors from a representative dataset. LiteRT's ai-edge-quantizer is its announced successor for
post-training quantization, but it quantizes an already-converted float model and keeps float
I/O; when it takes int8 I/O, this file is the one place to switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.config import SERVING_SIGNATURE
from pipeline.convert.base import ConvertContext, Converter


class TfliteConverter(Converter):
    def __init__(self, variant: str):
        self.variant = variant  # "fp32", "fp16", "dynamic" or "int8"

    def convert(self, ctx: ConvertContext, out: Path) -> None:
        import tensorflow as tf  # here, so that the table of targets imports without TensorFlow

        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(ctx.savedmodel), signature_keys=[SERVING_SIGNATURE]
        )
        if self.variant == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif self.variant == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
        elif self.variant == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative(ctx.representative)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        out.write_bytes(converter.convert())


def _representative(x: np.ndarray):
    def generate():
        for i in range(len(x)):
            yield [x[i : i + 1].astype(np.float32)]

    return generate
