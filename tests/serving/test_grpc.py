"""TF Serving's gRPC services against a real server, through the official tensorflow-serving-api stubs."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch


@pytest.fixture(scope="module")
def predictions(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(x, name="digits", signature="", version=None, label=None, key="image"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs[key].CopyFrom(tf.make_tensor_proto(x))
    return request


def test_predict_equals_the_signature_call_on_the_golden_set(
    predictions, golden, signature_outputs
):
    got = []
    for chunk in np.array_split(golden.x, 5):
        response = predictions.Predict(predict_request(chunk), timeout=30)
        got.append(tf.make_ndarray(response.outputs["probabilities"]))
    got = np.concatenate(got)
    assert np.max(np.abs(got - signature_outputs)) <= 1e-6
    assert response.model_spec.name == "digits"
    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value >= 1


def test_predict_answers_in_typed_fields_as_tf_serving_does_by_default(
    predictions, golden, signature_outputs
):
    out = predictions.Predict(predict_request(golden.x[:10]), timeout=30).outputs["probabilities"]
    assert out.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in out.tensor_shape.dim] == [10, 10]
    assert not out.tensor_content and len(out.float_val) == 100
    as_listed = np.array(out.float_val, np.float32).reshape(10, 10)  # as TF Serving's examples read
    assert np.max(np.abs(as_listed - signature_outputs[:10])) <= 1e-6
    assert np.max(np.abs(tf.make_ndarray(out) - signature_outputs[:10])) <= 1e-6


def test_string_outputs_are_string_val(predictions):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "examples"
    request.model_spec.signature_name = "classify_x"  # TF 2 writes it as a predict signature
    serialized = [e.SerializeToString() for e in examples(0.0, 3.0)]
    request.inputs["inputs"].CopyFrom(tf.make_tensor_proto(serialized))
    outputs = predictions.Predict(request, timeout=30).outputs
    assert list(outputs["classes"].string_val) == [b"neg", b"pos", b"neg", b"pos"]
    assert outputs["scores"].float_val[1] == pytest.approx(0.5)
    assert tf.make_ndarray(outputs["classes"]).tolist() == [[b"neg", b"pos"]] * 2


def test_enable_serialization_as_tensor_content_fills_tensor_content(
    repo, start_server, golden, signature_outputs
):
    server = start_server(
        [
            "--model_name=digits",
            f"--model_base_path={repo.base('digits')}",
            "--file_system_poll_wait_seconds=0",
            "--enable_serialization_as_tensor_content",
        ]
    )
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        out = stub.Predict(predict_request(golden.x[:10]), timeout=30).outputs["probabilities"]
    assert len(out.tensor_content) == 10 * 10 * 4 and not out.float_val
    assert np.max(np.abs(tf.make_ndarray(out) - signature_outputs[:10])) <= 1e-6


def test_predict_by_label_and_image_bytes(predictions, golden, signature_outputs, drawn_digit):
    response = predictions.Predict(predict_request(golden.x[:3], "labelled", label="canary"))
    assert response.model_spec.version.value == 2
    got = tf.make_ndarray(response.outputs["probabilities"])
    assert np.max(np.abs(got - signature_outputs[:3])) <= 1e-6
    png, expected = drawn_digit
    request = predict_request(
        np.array([png.read_bytes()], dtype=object), signature="predict_image", key="image_bytes"
    )
    probabilities = tf.make_ndarray(predictions.Predict(request).outputs["probabilities"])
    assert np.max(np.abs(probabilities[0] - expected)) <= 1e-6


def test_metadata_packs_the_signature_def_map(predictions):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "digits"
    response = predictions.GetModelMetadata(request)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    assert set(sig_map.signature_def) >= {"serving_default", "predict_image"}
    assert (
        sig_map.signature_def["serving_default"].inputs["image"].dtype
        == tf.float32.as_datatype_enum
    )


def test_model_status_over_grpc(models):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "labelled"
    response = models.GetModelStatus(request)
    assert [s.version for s in response.model_version_status] == [2, 1]
    assert all(s.state == s.AVAILABLE for s in response.model_version_status)


def examples(*xs):
    out = []
    for x in xs:
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(x)
        out.append(example)
    return out


def test_classify_and_regress(predictions):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "examples"
    request.model_spec.signature_name = "classify_x"
    request.input.example_list.examples.extend(examples(0.0, 3.0))
    result = predictions.Classify(request).result
    first, second = result.classifications
    assert [c.label for c in first.classes] == ["neg", "pos"]
    assert first.classes[1].score == pytest.approx(0.5)
    assert second.classes[1].score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-6)

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "examples"
    request.model_spec.signature_name = "regress_x"
    request.input.example_list_with_context.context.CopyFrom(examples(5.0)[0])
    request.input.example_list_with_context.examples.extend([example_pb2.Example(), *examples(0.5)])
    values = [r.value for r in predictions.Regress(request).result.regressions]
    assert values == pytest.approx([11.0, 2.0])


@pytest.mark.parametrize(
    ("request_args", "code", "message"),
    [
        (
            {"name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        ({"version": 42}, grpc.StatusCode.NOT_FOUND, "Specific(digits, 42)"),
        (
            {"name": "labelled", "label": "gone"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: gone",
        ),
        (
            {"signature": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        ({"name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        ({"key": "pixels"}, grpc.StatusCode.INVALID_ARGUMENT, "Signature input alias: image"),
    ],
)
def test_predict_errors_carry_tf_servings_status_codes(
    predictions, golden, request_args, code, message
):
    with pytest.raises(grpc.RpcError) as caught:
        predictions.Predict(predict_request(golden.x[:1], **request_args), timeout=30)
    assert caught.value.code() == code
    assert message in caught.value.details()


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((1, 8, 8, 1), np.int32), "to be float but int32 is provided"),
        (np.zeros((1, 8, 8), np.float32), "has shape [1,8,8] but the signature expects [?,8,8,1]"),
        (np.array([b"abc"], dtype=object), "to be float but string is provided"),
    ],
)
def test_wrong_dtype_or_shape_is_invalid_argument(predictions, x, message):
    with pytest.raises(grpc.RpcError) as caught:
        predictions.Predict(predict_request(x), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


def test_reload_config_adds_and_removes_a_model(models, predictions, repo, golden):
    current = model_server_config_pb2.ModelServerConfig()
    from google.protobuf import text_format

    text_format.Parse(repo.config.read_text(), current)
    extended = model_server_config_pb2.ModelServerConfig()
    extended.CopyFrom(current)
    extra = extended.model_config_list.config.add()
    extra.name, extra.base_path, extra.model_platform = (
        "twin",
        str(repo.base("labelled")),
        "tensorflow",
    )
    response = models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=extended), timeout=120
    )
    assert response.status.error_code == 0
    answer = predictions.Predict(predict_request(golden.x[:1], "twin"), timeout=30)
    assert answer.model_spec.version.value == 2  # latest of labelled's 1 and 2

    models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=current))
    with pytest.raises(grpc.RpcError) as caught:
        predictions.Predict(predict_request(golden.x[:1], "twin"), timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_reload_config_rejects_a_relative_base_path(models):
    config = model_server_config_pb2.ModelServerConfig()
    bad = config.model_config_list.config.add()
    bad.name, bad.base_path, bad.model_platform = "rel", "models/serving/rel", "tensorflow"
    with pytest.raises(grpc.RpcError) as caught:
        models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "absolute path" in caught.value.details()
