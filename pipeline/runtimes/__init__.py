"""Runtimes that execute an artifact: one small adapter each, registered by name.

Adding a runtime (REST, gRPC, a container) is one new module with a `Runtime` subclass and a
line here; verification picks it up from RUNTIMES and TARGET_RUNTIMES.
"""

from pipeline.runtimes.base import RunOutput, Runtime
from pipeline.runtimes.keras_rt import KerasRuntime
from pipeline.runtimes.litert import LiteRtRuntime
from pipeline.runtimes.serving_rt import GrpcRuntime, RestRuntime
from pipeline.runtimes.tf_signature import TfSignatureRuntime
from pipeline.runtimes.tfjs_node import TfjsNodeRuntime
from pipeline.runtimes.tflite_runtime import TfliteRuntime

RUNTIMES: dict[str, Runtime] = {
    rt.name: rt
    for rt in (
        KerasRuntime(),
        TfSignatureRuntime(),
        RestRuntime(),
        GrpcRuntime(),
        LiteRtRuntime(),
        TfliteRuntime(),
        TfjsNodeRuntime(),
    )
}

# Which runtimes each target is verified in on the host.
TARGET_RUNTIMES: dict[str, list[str]] = {
    "keras": ["keras"],
    "savedmodel": ["tf-signature", "rest", "grpc"],
    "tflite-fp32": ["litert", "tflite-runtime"],
    "tflite-fp16": ["litert", "tflite-runtime"],
    "tflite-dynamic": ["litert", "tflite-runtime"],
    "tflite-int8": ["litert", "tflite-runtime"],
    "tfjs": ["tfjs-node"],
    "tfjs-uint8": ["tfjs-node"],
}

__all__ = ["RUNTIMES", "TARGET_RUNTIMES", "RunOutput", "Runtime"]
