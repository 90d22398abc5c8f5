"""Hostile requests against a real server: each gets TF Serving's code and wording, costs only its
own request, leaves no traceback in the log, and the next request is answered as before."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.serving.conftest import Rest, as_np
from tests.serving.test_grpc import predict_request
from tests.serving.test_images import png_header

PREDICT = "/v1/models/digits:predict"
HUGE_PNG = png_header(20000, 20000)  # under 200 bytes; 400 million pixels once decoded
TOO_MANY_PIXELS = (
    "Image in input 'image_bytes' (value 0) is a PNG of 20000 x 20000 = 400000000 pixels, more "
    "than the 16777216 allowed (--max_image_pixels); it was not decoded"
)


def nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Log:
    """What the server logs from now on."""

    def __init__(self, path: Path):
        self.path, self.start = path, path.stat().st_size

    def since(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


@pytest.fixture
def log(server):
    return Log(Path(server.log_path))


def test_a_body_nested_100000_deep_is_a_parse_error_and_the_server_carries_on(
    rest, log, golden, signature_outputs
):
    head = '{"instances": '
    status, _, doc = rest.post(PREDICT, head + nested(100_000) + "}")
    assert status == 400, doc
    # the bracket that opens level 257: deeper than TensorFlow's 254 dimensions allow
    assert doc == {"error": f"JSON Parse error: Too deeply nested at offset: {len(head) + 255}"}
    status, _, doc = rest.post(PREDICT, {"instances": golden.x[:3].tolist()})
    assert status == 200
    assert np.max(np.abs(as_np(doc["predictions"]) - signature_outputs[:3])) <= 1e-6
    assert "Traceback" not in log.since() and "RecursionError" not in log.since()


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        # TF Serving's own cases (json_tensor_test.cc DeeplyNestedMalformed / WellFormed):
        (
            '{"signature_name": ' + nested(500) + ', "instances": [1]}',
            400,
            "not formatted correctly. 'signature_name' key must be a string value.",
        ),
        ('{"instances": [IMAGE], "nested": ' + nested(500) + "}", 200, None),
        # a tensor deeper than numpy's dimensions, which would otherwise fail inside numpy
        (
            '{"instances": [' + nested(40, "0.0") + "]}",
            400,
            "JSON value for input 'image' is nested 40 lists deep",
        ),
        ('{"inputs": ' + nested(40, "0.0") + "}", 400, "is nested 40 lists deep"),
    ],
    ids=["deep-signature-name", "deep-unused-key", "deep-instance", "deep-inputs"],
)
def test_deep_values_the_parser_takes_are_answered_not_crashed_on(
    rest, log, golden, body, code, message
):
    body = body.replace("IMAGE", str(golden.x[0].tolist()))
    status, _, doc = rest.post(PREDICT, body)
    assert status == code, doc
    if message:
        assert message in doc["error"]
        assert len(doc["error"]) < 1000  # the JSON it quotes is cut, as TF Serving cuts it
    assert "Traceback" not in log.since()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models/digits/versions/99999999999999999999"),
        ("GET", "/v1/models/digits/versions/99999999999999999999/metadata"),
        ("POST", "/v1/models/digits/versions/99999999999999999999:predict"),
        ("POST", "/v1/models/examples/versions/99999999999999999999:classify"),
    ],
)
def test_a_version_beyond_int64_is_tf_servings_conversion_error(rest, golden, method, path):
    body = {"instances": golden.x[:1].tolist()} if method == "POST" else None
    status, _, doc = rest.call(method, path, body)
    assert (status, doc) == (
        400,
        {"error": "Failed to convert version: 99999999999999999999 to numeric."},
    )


def test_the_largest_int64_version_is_only_not_found(rest, golden):
    status, _, doc = rest.get("/v1/models/digits/versions/9223372036854775807")
    assert (status, doc["error"]) == (
        404,
        "Could not find version 9223372036854775807 of model digits",
    )
    status, _, doc = rest.post(
        "/v1/models/digits/versions/00000000000000000000001:predict",  # leading zeros: 1
        {"instances": golden.x[:1].tolist()},
    )
    assert status == 200, doc


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        yield ch


def test_grpc_negative_and_extreme_versions_are_not_found(channel, golden):
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        predictions.Predict(predict_request(golden.x[:1], version=-1), timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "Servable not found for request: Specific(digits, -1)"
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "digits"
    request.model_spec.version.value = -(2**63)
    with pytest.raises(grpc.RpcError) as caught:
        model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == ("Could not find version -9223372036854775808 of model digits")


def image_body(png: bytes) -> dict:
    return {
        "signature_name": "predict_image",
        "instances": [{"b64": base64.b64encode(png).decode()}],
    }


def test_a_tiny_png_of_400_megapixels_is_refused_before_decoding(server, rest, log, drawn_digit):
    assert len(HUGE_PNG) < 200
    before = rss_mib(server.proc.pid)
    start = time.perf_counter()
    status, _, doc = rest.post(PREDICT, image_body(HUGE_PNG))
    seconds = time.perf_counter() - start
    assert (status, doc) == (400, {"error": TOO_MANY_PIXELS})
    assert seconds < 1.0  # decoding it took 2 s here
    assert rss_mib(server.proc.pid) - before < 100  # decoding it took 2 GB
    png, expected = drawn_digit  # a real PNG still goes through
    status, _, doc = rest.post(PREDICT, image_body(png.read_bytes()))
    assert status == 200, doc
    assert np.max(np.abs(as_np(doc["predictions"])[0] - expected)) <= 1e-6
    assert "Traceback" not in log.since()


def test_the_same_png_over_grpc_is_invalid_argument(server, channel):
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_request(
        np.array([HUGE_PNG], dtype=object), signature="predict_image", key="image_bytes"
    )
    before = rss_mib(server.proc.pid)
    with pytest.raises(grpc.RpcError) as caught:
        predictions.Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == TOO_MANY_PIXELS
    assert rss_mib(server.proc.pid) - before < 100


def test_max_image_pixels_sets_the_limit(repo, start_server, drawn_digit, run_server):
    png, _ = drawn_digit  # 32 x 32
    flags = [f"--model_base_path={repo.base('digits')}", "--model_name=digits"]
    small = start_server([*flags, "--file_system_poll_wait_seconds=0", "--max_image_pixels=1000"])
    status, _, doc = Rest(small.rest_port).post(PREDICT, image_body(png.read_bytes()))
    assert status == 400
    assert "is a PNG of 32 x 32 = 1024 pixels, more than the 1000 allowed" in doc["error"]
    proc = run_server(*flags, "--max_image_pixels=-1")
    assert proc.returncode == 1
    assert "--max_image_pixels must be 0 (no limit) or more" in proc.stderr
