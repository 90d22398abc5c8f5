"""TF Serving's gRPC services (PredictionService, ModelService) on grpc.aio, with the official protos."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable

import grpc
import numpy as np
from google.protobuf import message_factory, wrappers_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
    status_pb2,
)

from serving.admission import counting
from serving.config import ConfigError, model_specs
from serving.errors import ServingError, invalid, unavailable
from serving.servable import CLASSIFY_METHOD, REGRESS_METHOD, Servable, Signature, examples_of
from serving.service import Service, Target, within_deadline
from serving.tensor_proto import predict_response, to_ndarray


def target_of(spec: model_pb2.ModelSpec) -> Target:
    if not spec.name:
        raise invalid("ModelSpec has no name specified.")
    version = spec.version.value if spec.HasField("version") else None
    return Target(spec.name, version, spec.version_label or None)


def spec_of(servable: Servable, sig: Signature | None) -> model_pb2.ModelSpec:
    return model_pb2.ModelSpec(
        name=servable.name,
        version=wrappers_pb2.Int64Value(value=servable.version),
        signature_name=sig.name if sig else "",
    )


log = logging.getLogger("serving")


class CallBase:
    def __init__(self, service: Service):
        self.service = service

    async def _call(self, api: str, name: str, context, work: Callable[[], Awaitable]):
        start, status = time.perf_counter(), "OK"
        try:
            if self.service.draining:
                raise unavailable("Server is shutting down")
            # the client's deadline, if it set one
            return await within_deadline(context.time_remaining(), work())
        except ServingError as e:
            status = e.code_name
            await context.abort(e.code, e.message)
        except TimeoutError:
            status = "DEADLINE_EXCEEDED"
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded")
        except grpc.aio.AbortError:
            raise
        except Exception as e:  # a bug must cost one request, never the server
            log.exception("internal error in %s", api)
            status = "INTERNAL"
            await context.abort(
                grpc.StatusCode.INTERNAL, f"Internal error: {type(e).__name__}: {e}"
            )
        finally:
            self.service.metrics.request(name, api, "GRPC", status, time.perf_counter() - start)


class PredictionService(CallBase, prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: Service, serialize_as_tensor_content: bool = False):
        super().__init__(service)
        # TF Serving's default is the typed fields (Tensor::AsProtoField, predict_util.cc);
        # --enable_serialization_as_tensor_content switches to AsProtoTensorContent.
        self._tensor_content = serialize_as_tensor_content

    async def Predict(self, request: predict_pb2.PredictRequest, context) -> bytes:
        """The PredictResponse, serialized: add_prediction_service sends it as it is."""

        async def work():
            servable = self.service.resolve(target_of(request.model_spec))
            sig = self.service.signature(servable, request.model_spec.signature_name, grpc_api=True)
            inputs = {k: _ndarray(k, v) for k, v in request.inputs.items()}
            result = await self.service.predict(
                servable, sig, inputs, list(request.output_filter), exact_dtypes=True
            )
            spec = _spec_bytes(servable.name, servable.version, sig.name if sig else "")
            return predict_response(spec, result.outputs, self._tensor_content)

        return await self._call("Predict", request.model_spec.name, context, work)

    async def _run_examples(self, request, method: str):
        """Classify and Regress alike: resolve, run the tf.Examples, and the response's model_spec."""
        servable = self.service.resolve(target_of(request.model_spec))
        result = await self.service.run_examples(
            servable, method, request.model_spec.signature_name, examples_of(request.input)
        )
        return result, spec_of(servable, result.signature)

    async def Classify(self, request: classification_pb2.ClassificationRequest, context):
        async def work():
            result, spec = await self._run_examples(request, CLASSIFY_METHOD)
            response = classification_pb2.ClassificationResponse(model_spec=spec)
            classes, scores = result.outputs.get("classes"), result.outputs.get("scores")
            shape = (classes if classes is not None else scores).shape
            for i in range(shape[0]):
                row = response.result.classifications.add()
                for j in range(shape[1]):
                    entry = row.classes.add()
                    if classes is not None:
                        entry.label = classes[i, j].decode()
                    if scores is not None:
                        entry.score = float(scores[i, j])
            return response

        return await self._call("Classify", request.model_spec.name, context, work)

    async def Regress(self, request: regression_pb2.RegressionRequest, context):
        async def work():
            result, spec = await self._run_examples(request, REGRESS_METHOD)
            response = regression_pb2.RegressionResponse(model_spec=spec)
            values = np.asarray(next(iter(result.outputs.values())))
            for value in values.reshape(len(values), -1)[:, 0]:
                response.result.regressions.add(value=float(value))
            return response

        return await self._call("Regress", request.model_spec.name, context, work)

    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context
    ):
        async def work():
            fields = list(request.metadata_field)
            if not fields:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            unsupported = [f for f in fields if f != "signature_def"]
            if unsupported:
                raise invalid(f"Metadata field {unsupported[0]} is not supported")
            servable = self.service.resolve(target_of(request.model_spec))
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for name, sig in servable.signatures.items():
                sig_map.signature_def[name].CopyFrom(sig.proto)
            response = get_model_metadata_pb2.GetModelMetadataResponse(
                model_spec=spec_of(servable, None)
            )
            response.metadata["signature_def"].Pack(sig_map)
            return response

        return await self._call("GetModelMetadata", request.model_spec.name, context, work)

    async def MultiInference(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported")


PREDICTION_SERVICE = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"]


def add_prediction_service(servicer: PredictionService, server: grpc.aio.Server) -> None:
    """What prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server registers, from
    the same service descriptor, except that Predict has no serializer (its answer is already
    the serialized PredictResponse, serving/tensor_proto.py) and requests are counted against
    the server's request budget (serving/admission.py)."""
    service = PREDICTION_SERVICE
    handlers = {}
    for method in service.methods:
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=counting(request.FromString),
            response_serializer=None if method.name == "Predict" else response.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )


class ModelService(CallBase, model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: Service, reload: Callable[[list], Awaitable[None]]):
        super().__init__(service)
        self._reload = reload

    async def GetModelStatus(self, request, context):
        async def work():
            target = target_of(request.model_spec)
            return self.service.manager.status(target.name, target.version)

        return await self._call("GetModelStatus", request.model_spec.name, context, work)

    async def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, context
    ):
        async def work():
            try:
                specs = model_specs(request.config, "ReloadConfigRequest")
            except ConfigError as e:
                raise invalid(str(e)) from e
            await self._reload(specs)
            return model_management_pb2.ReloadConfigResponse(
                status=status_pb2.StatusProto(error_code=0, error_message="")
            )

        return await self._call("HandleReloadConfigRequest", "", context, work)


@functools.lru_cache(maxsize=1024)  # one per (model, version, signature) served
def _spec_bytes(name: str, version: int, signature_name: str) -> bytes:
    return model_pb2.ModelSpec(
        name=name, version=wrappers_pb2.Int64Value(value=version), signature_name=signature_name
    ).SerializeToString()


def _ndarray(key: str, proto) -> np.ndarray:
    try:
        return to_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid(f"Cannot decode input tensor '{key}': {e}") from e
