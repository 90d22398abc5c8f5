"""LiteRT (ai-edge-litert): a .tflite file through the mobile package's signature runner.

The edge runtime and verification share one TFLite code path (mobile/runtime.py): float in,
float out, int8/uint8 I/O quantized and dequantized with each tensor's scale and zero point.
"""

from __future__ import annotations

from mobile.runtime import TfliteModel
from pipeline.config import SERVING_SIGNATURE
from pipeline.runtimes.base import InProcessRuntime


class LiteRtRuntime(InProcessRuntime):
    name = "litert"

    def load(self, path, info):
        model = TfliteModel(path, runtime="litert", threads=1, signature=SERVING_SIGNATURE)
        return model.run
