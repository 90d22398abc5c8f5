"""The Open Inference Protocol's gRPC service, inference.GRPCInferenceService, on the gRPC port
beside TF Serving's PredictionService: ServerLive, ServerReady, ModelReady, ServerMetadata,
ModelMetadata and ModelInfer. Errors are gRPC status codes (NOT_FOUND for an unknown model,
INVALID_ARGUMENT for a bad request). Outputs are answered as raw_output_contents, as Triton does.
"""

from __future__ import annotations

import grpc

from serving import oip
from serving.admission import counting
from serving.errors import invalid
from serving.grpc_service import CallBase
from serving.oip_proto import MESSAGES, METHODS, SERVICE

M = MESSAGES


class InferenceService(CallBase):
    async def ServerLive(self, request, context):
        return M["ServerLiveResponse"](live=True)

    async def ServerReady(self, request, context):
        return M["ServerReadyResponse"](ready=oip.server_ready(self.service))

    async def ModelReady(self, request, context):
        async def work():
            t = oip.target(request.name, request.version)
            return M["ModelReadyResponse"](ready=oip.model_ready(self.service, t))

        return await self._call("ModelReady", request.name, context, work)

    async def ServerMetadata(self, request, context):
        return M["ServerMetadataResponse"](
            name=oip.SERVER_NAME, version=oip.SERVER_VERSION, extensions=oip.EXTENSIONS
        )

    async def ModelMetadata(self, request, context):
        async def work():
            doc = oip.model_metadata(self.service, oip.target(request.name, request.version))
            return M["ModelMetadataResponse"](**doc)

        return await self._call("ModelMetadata", request.name, context, work)

    async def ModelInfer(self, request, context):
        async def work():
            servable = self.service.resolve(oip.target(request.model_name, request.model_version))
            inputs = _inputs(request)
            parameters = {k: _value(v) for k, v in request.parameters.items()}
            requested = [o.name for o in request.outputs]
            result = await oip.infer(self.service, servable, inputs, requested, parameters)
            response = M["ModelInferResponse"](
                model_name=result.servable.name,
                model_version=str(result.servable.version),
                id=request.id,
            )
            for key in requested or sorted(result.outputs):
                array = result.outputs[key]
                response.outputs.add(
                    name=key, datatype=oip.datatype_of(array.dtype), shape=list(array.shape)
                )
                response.raw_output_contents.append(oip.to_raw(array))
            return response

        return await self._call("ModelInfer", request.model_name, context, work)


def _value(parameter):
    kind = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, kind) if kind else None


def _inputs(request) -> dict:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise invalid(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs")
    inputs = {}
    for i, tensor in enumerate(request.inputs):
        if tensor.name in inputs:
            raise invalid(f"input '{tensor.name}' is given twice")
        if raw:
            if tensor.HasField("contents"):
                raise invalid(f"input '{tensor.name}': contents and raw_input_contents both given")
            value = oip.from_raw(tensor.name, tensor.datatype, list(tensor.shape), raw[i])
        else:
            value = oip.from_contents(
                tensor.name, tensor.datatype, list(tensor.shape), tensor.contents
            )
        inputs[tensor.name] = value
    if not inputs:
        raise invalid("the request has no inputs")
    return inputs


def add_inference_service(servicer: InferenceService, server: grpc.aio.Server) -> None:
    """Registers the service's six methods, requests counted against the server's budget."""
    handlers = {
        rpc: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, rpc),
            request_deserializer=counting(M[request].FromString),
            response_serializer=M[response].SerializeToString,
        )
        for rpc, (request, response) in METHODS.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
