"""Converters: one small adapter per target family behind the contract in base.py."""

from pipeline.convert.base import ConversionResult, ConvertContext, Converter
from pipeline.convert.tfjs import TfjsConverter
from pipeline.convert.tflite import TfliteConverter

CONVERTERS: list[Converter] = [
    *(TfliteConverter(v) for v in ("fp32", "fp16", "dynamic", "int8")),
    TfjsConverter("tfjs"),
    TfjsConverter("tfjs-uint8", quantize="uint8"),
]

__all__ = ["CONVERTERS", "ConversionResult", "ConvertContext", "Converter", "convert_all"]


def convert_all(ctx: ConvertContext, only: list[str] | None = None) -> list[ConversionResult]:
    """Run every converter (or those named); a failure is recorded and the others go on."""
    return [c.run(ctx) for c in CONVERTERS if only is None or c.target in only]
