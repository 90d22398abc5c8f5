"""The Open Inference Protocol's gRPC messages (KServe's grpc_predict_v2.proto, package `inference`),
built as a protobuf descriptor at import: no generated code and no protoc.

The field names and numbers are the protocol's (kserve/kserve docs/predict-api/v2); tritonclient's
own `inference` protos, a superset, talk to these unchanged. `MESSAGES["ModelInferRequest"]` etc.
are ordinary protobuf message classes.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"
F = descriptor_pb2.FieldDescriptorProto

# (name, number, type, label, message type); label "+" is repeated, a "map:" type is a map entry
_PARAMS = "map:InferParameter"  # map<string, InferParameter> parameters
_SCHEMA: dict[str, list[tuple]] = {
    "ServerLiveRequest": [],
    "ServerLiveResponse": [("live", 1, F.TYPE_BOOL)],
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, F.TYPE_BOOL)],
    "ModelReadyRequest": [("name", 1, F.TYPE_STRING), ("version", 2, F.TYPE_STRING)],
    "ModelReadyResponse": [("ready", 1, F.TYPE_BOOL)],
    "ServerMetadataRequest": [],
    "ServerMetadataResponse": [
        ("name", 1, F.TYPE_STRING),
        ("version", 2, F.TYPE_STRING),
        ("extensions", 3, F.TYPE_STRING, "+"),
    ],
    "ModelMetadataRequest": [("name", 1, F.TYPE_STRING), ("version", 2, F.TYPE_STRING)],
    "ModelMetadataResponse.TensorMetadata": [
        ("name", 1, F.TYPE_STRING),
        ("datatype", 2, F.TYPE_STRING),
        ("shape", 3, F.TYPE_INT64, "+"),
    ],
    "ModelMetadataResponse": [
        ("name", 1, F.TYPE_STRING),
        ("versions", 2, F.TYPE_STRING, "+"),
        ("platform", 3, F.TYPE_STRING),
        ("inputs", 4, "ModelMetadataResponse.TensorMetadata", "+"),
        ("outputs", 5, "ModelMetadataResponse.TensorMetadata", "+"),
    ],
    "ModelInferRequest.InferInputTensor": [
        ("name", 1, F.TYPE_STRING),
        ("datatype", 2, F.TYPE_STRING),
        ("shape", 3, F.TYPE_INT64, "+"),
        ("parameters", 4, _PARAMS),
        ("contents", 5, "InferTensorContents"),
    ],
    "ModelInferRequest.InferRequestedOutputTensor": [
        ("name", 1, F.TYPE_STRING),
        ("parameters", 2, _PARAMS),
    ],
    "ModelInferRequest": [
        ("model_name", 1, F.TYPE_STRING),
        ("model_version", 2, F.TYPE_STRING),
        ("id", 3, F.TYPE_STRING),
        ("parameters", 4, _PARAMS),
        ("inputs", 5, "ModelInferRequest.InferInputTensor", "+"),
        ("outputs", 6, "ModelInferRequest.InferRequestedOutputTensor", "+"),
        ("raw_input_contents", 7, F.TYPE_BYTES, "+"),
    ],
    "ModelInferResponse.InferOutputTensor": [
        ("name", 1, F.TYPE_STRING),
        ("datatype", 2, F.TYPE_STRING),
        ("shape", 3, F.TYPE_INT64, "+"),
        ("parameters", 4, _PARAMS),
        ("contents", 5, "InferTensorContents"),
    ],
    "ModelInferResponse": [
        ("model_name", 1, F.TYPE_STRING),
        ("model_version", 2, F.TYPE_STRING),
        ("id", 3, F.TYPE_STRING),
        ("parameters", 4, _PARAMS),
        ("outputs", 5, "ModelInferResponse.InferOutputTensor", "+"),
        ("raw_output_contents", 6, F.TYPE_BYTES, "+"),
    ],
    # a oneof of the three: filled in by _parameter_oneof
    "InferParameter": [
        ("bool_param", 1, F.TYPE_BOOL),
        ("int64_param", 2, F.TYPE_INT64),
        ("string_param", 3, F.TYPE_STRING),
    ],
    "InferTensorContents": [
        ("bool_contents", 1, F.TYPE_BOOL, "+"),
        ("int_contents", 2, F.TYPE_INT32, "+"),
        ("int64_contents", 3, F.TYPE_INT64, "+"),
        ("uint_contents", 4, F.TYPE_UINT32, "+"),
        ("uint64_contents", 5, F.TYPE_UINT64, "+"),
        ("fp32_contents", 6, F.TYPE_FLOAT, "+"),
        ("fp64_contents", 7, F.TYPE_DOUBLE, "+"),
        ("bytes_contents", 8, F.TYPE_BYTES, "+"),
    ],
}
# rpc name → (request, response)
METHODS = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


def _field(message: descriptor_pb2.DescriptorProto, full: str, spec: tuple) -> None:
    """Adds one field to `message` (named `full` under the package)."""
    name, number, kind, *rest = spec
    field = message.field.add(name=name, number=number, json_name=_camel(name))
    field.label = F.LABEL_REPEATED if rest == ["+"] else F.LABEL_OPTIONAL
    if isinstance(kind, int):
        field.type = kind
    elif kind.startswith("map:"):  # map<string, V>: a nested repeated XEntry message
        entry = message.nested_type.add(name=_camel(name, upper=True) + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        value = entry.field.add(name="value", number=2, label=F.LABEL_OPTIONAL)
        value.type, value.type_name = F.TYPE_MESSAGE, f".{PACKAGE}.{kind[4:]}"
        field.label, field.type = F.LABEL_REPEATED, F.TYPE_MESSAGE
        field.type_name = f".{PACKAGE}.{full}.{entry.name}"
    else:
        field.type, field.type_name = F.TYPE_MESSAGE, f".{PACKAGE}.{kind}"


def _camel(name: str, upper: bool = False) -> str:
    head, *rest = name.split("_")
    text = head + "".join(w.title() for w in rest)
    return text[0].upper() + text[1:] if upper else text


def _build() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="keras_deploy/grpc_predict_v2.proto", package=PACKAGE, syntax="proto3"
    )
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full in sorted(_SCHEMA, key=lambda n: n.count(".")):  # outer first: nested find a parent
        outer, _, inner = full.partition(".")
        if inner:
            messages[full] = messages[outer].nested_type.add(name=inner)
        else:
            messages[full] = file.message_type.add(name=full)
    for full, fields in _SCHEMA.items():
        for spec in fields:
            _field(messages[full], full, spec)
    choice = messages["InferParameter"]
    choice.oneof_decl.add(name="parameter_choice")
    for field in choice.field:
        field.oneof_index = 0
    service = file.service.add(name="GRPCInferenceService")
    for rpc, (request, response) in METHODS.items():
        service.method.add(
            name=rpc, input_type=f".{PACKAGE}.{request}", output_type=f".{PACKAGE}.{response}"
        )
    return file


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_build())
MESSAGES = {
    name: message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
    for name in _SCHEMA
}
