"""The TFLite edge runtime: run a .tflite with LiteRT or tflite-runtime, never TensorFlow.

    from mobile import TfliteModel
    model = TfliteModel("models/tflite/digits/int8.tflite")   # LiteRT if installed, else tflite-runtime
    probabilities = model(x)                                   # float in, float out, any batch size

python -m mobile --help lists the commands (predict, bench, inspect, check).
"""

from mobile.errors import BadInput, CannotRun
from mobile.runtime import TfliteModel

__all__ = ["BadInput", "CannotRun", "TfliteModel"]
