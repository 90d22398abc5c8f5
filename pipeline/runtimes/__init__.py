"""Runtimes that execute an artifact: one small adapter each, registered by name.

Adding a runtime (a container, a browser) is one new module with a `Runtime` subclass and a line
here; a target names the runtimes that verify it in pipeline/targets.py.
"""

from pipeline.runtimes.base import RunOutput, Runtime
from pipeline.runtimes.keras_model import KerasRuntime
from pipeline.runtimes.litert import LiteRtRuntime
from pipeline.runtimes.model_server import GrpcRuntime, RestRuntime
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

__all__ = ["RUNTIMES", "RunOutput", "Runtime"]
