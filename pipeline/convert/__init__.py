"""Converters: one small adapter per target family behind the contract in base.py."""

from pipeline.convert.base import Conversion, ConversionError, ConvertContext, Converter
from pipeline.convert.tfjs import TfjsConverter
from pipeline.convert.tflite import TfliteConverter

__all__ = [
    "Conversion",
    "ConversionError",
    "ConvertContext",
    "Converter",
    "TfjsConverter",
    "TfliteConverter",
]
