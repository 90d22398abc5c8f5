"""TF Serving's REST API against a real server process: answers, formats, and its error codes."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from serving.rest import OPENAPI
from tests.serving.conftest import MAX_REQUEST_BYTES, as_np

PREDICT = "/v1/models/digits:predict"


def test_status_lists_the_loaded_version_as_tf_serving_prints_it(rest):
    status, headers, doc = rest.get("/v1/models/digits")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert doc["model_version_status"][0]["state"] == "AVAILABLE"
    assert doc["model_version_status"][0]["status"] == {"error_code": "OK", "error_message": ""}
    assert isinstance(doc["model_version_status"][0]["version"], str)


def test_status_of_one_version_and_newest_first(rest):
    status, _, doc = rest.get("/v1/models/labelled")
    assert status == 200
    assert [s["version"] for s in doc["model_version_status"]] == ["2", "1"]
    status, _, doc = rest.get("/v1/models/labelled/versions/1")
    assert status == 200 and [s["version"] for s in doc["model_version_status"]] == ["1"]


def test_metadata_holds_the_signature_defs(rest):
    status, _, doc = rest.get("/v1/models/digits/metadata")
    assert status == 200
    assert doc["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    image = sigs["serving_default"]["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    assert sigs["serving_default"]["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert sigs["predict_image"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"


def test_row_format_equals_the_signature_call_on_the_golden_set(rest, golden, signature_outputs):
    got = []
    for chunk in np.array_split(golden.x, 5):  # several requests, each under the batch limit, 64
        status, _, doc = rest.post(PREDICT, {"instances": chunk.tolist()})
        assert status == 200, doc
        got.append(as_np(doc["predictions"]))
    got = np.concatenate(got)
    assert got.shape == signature_outputs.shape
    assert np.max(np.abs(got - signature_outputs)) <= 1e-6


def test_columnar_format_named_and_unnamed(rest, golden, signature_outputs):
    x = golden.x[:5]
    for inputs in (x.tolist(), {"image": x.tolist()}):
        status, _, doc = rest.post(PREDICT, {"inputs": inputs})
        assert status == 200, doc
        assert np.max(np.abs(as_np(doc["outputs"]) - signature_outputs[:5])) <= 1e-6


def test_named_instances_and_explicit_version_and_label(rest, golden, signature_outputs):
    body = {"instances": [{"image": golden.x[0].tolist()}, {"image": golden.x[1].tolist()}]}
    for path in (
        "/v1/models/digits/versions/1:predict",
        "/v1/models/labelled/labels/stable:predict",
        "/v1/models/labelled/labels/canary:predict",
    ):
        status, _, doc = rest.post(path, body)
        assert status == 200, (path, doc)
        assert np.max(np.abs(as_np(doc["predictions"]) - signature_outputs[:2])) <= 1e-6


def test_b64_image_bytes_through_the_image_signature(rest, drawn_digit):
    png, expected = drawn_digit
    body = {
        "signature_name": "predict_image",
        "instances": [{"b64": base64.b64encode(png.read_bytes()).decode()}],
    }
    status, _, doc = rest.post(PREDICT, body)
    assert status == 200, doc
    probabilities = as_np(doc["predictions"])[0]
    assert np.max(np.abs(probabilities - expected)) <= 1e-6
    assert abs(float(probabilities.sum()) - 1) < 1e-5


def test_classify_and_regress_on_example_signatures(rest):
    body = {"signature_name": "classify_x", "examples": [{"x": 0.0}, {"x": 2.0}]}
    status, _, doc = rest.post("/v1/models/examples:classify", body)
    assert status == 200, doc
    (neg0, pos0), (_neg1, pos1) = doc["results"]
    assert neg0 == ["neg", 0.5] and pos0 == ["pos", 0.5]
    assert pos1[0] == "pos" and pos1[1] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-6)
    body = {"signature_name": "regress_x", "context": {"x": 1.5}, "examples": [{}, {"x": -1.0}]}
    status, _, doc = rest.post("/v1/models/examples:regress", body)
    assert status == 200, doc
    assert doc["results"] == [4.0, -1.0]


@pytest.mark.parametrize(
    ("path", "body", "code", "message"),
    [
        (PREDICT, b'{"instances": [1,', 400, "JSON Parse error"),
        (PREDICT, b"", 400, "JSON Parse error: The document is empty"),
        (
            PREDICT,
            {"instances": [[[["x"]]]]},
            400,
            'JSON Value: "x" Type: String is not of expected type: float',
        ),
        (PREDICT, {"instances": [1, 2]}, 400, "has shape [2] but the signature expects [?,8,8,1]"),
        (
            PREDICT,
            {"inputs": np.zeros((65, 8, 8, 1)).tolist()},
            400,
            "Task size 65 is larger than maximum input batch size 64",
        ),
        (
            PREDICT,
            {"instances": [[[[0.0]]], [[[0.0], [1.0]]]]},
            400,
            "Expecting tensor size: 1 but got: 2",
        ),
        (
            PREDICT,
            {"instances": [], "inputs": []},
            400,
            "expecting only one of 'inputs' or 'instances'",
        ),
        (
            PREDICT,
            {"signature_name": "serving_default"},
            400,
            "Missing 'inputs' or 'instances' key",
        ),
        (
            PREDICT,
            {"signature_name": "nope", "instances": [1]},
            400,
            'Serving signature name: "nope" not found',
        ),
        (
            PREDICT,
            {"inputs": {"pixels": [1]}},
            400,
            "Missing named input: image in 'inputs' object.",
        ),
        (
            "/v1/models/nope:predict",
            {"instances": [1]},
            404,
            "Servable not found for request: Latest(nope)",
        ),
        ("/v1/models/digits/versions/9:predict", {"instances": [1]}, 404, "Specific(digits, 9)"),
        (
            "/v1/models/labelled/labels/gone:predict",
            {"instances": [1]},
            400,
            "Unrecognized servable version label: gone",
        ),
        (
            "/v1/models/digits:classify",
            {"examples": [{"x": 1.0}]},
            400,
            "No classification inputs found",
        ),
        (
            "/v1/models/digits:regress",
            {"examples": [{"x": 1.0}]},
            400,
            "No regression inputs found",
        ),
        (
            "/v1/models/digits:explain",
            {"instances": [1]},
            400,
            "Malformed request: POST /v1/models/digits:explain",
        ),
    ],
)
def test_bad_requests_get_tf_servings_code_and_message(rest, path, body, code, message):
    status, _headers, doc = rest.post(path, body)
    assert status == code, doc
    assert message in doc["error"]


def test_unknown_model_and_version_status(rest):
    assert rest.get("/v1/models/nope") == (
        404,
        rest.get("/v1/models/nope")[1],
        {"error": "Could not find any versions of model nope"},
    )
    status, _, doc = rest.get("/v1/models/digits/versions/42")
    assert status == 404 and doc["error"] == "Could not find version 42 of model digits"
    status, _, doc = rest.call("DELETE", "/v1/models/digits")
    assert status == 400 and doc["error"] == "Malformed request: DELETE /v1/models/digits"


def test_oversized_body_is_refused_and_the_server_carries_on(rest, golden):
    big = b'{"instances": [' + b"0.0," * (MAX_REQUEST_BYTES // 4) + b"0.0]}"
    status, _, doc = rest.post(PREDICT, big)
    assert status == 413 and "too large" in doc["error"]
    status, _, doc = rest.post(PREDICT, {"instances": golden.x[:1].tolist()})
    assert status == 200


def test_cors_headers_and_preflight(rest):
    status, headers, _ = rest.get("/v1/models/digits")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "POST, GET"
    status, headers, _ = rest.call(
        "OPTIONS",
        PREDICT,
        headers={"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"},
    )
    assert status == 200 and headers["Access-Control-Allow-Headers"] == "Content-Type"
    status, _, _ = rest.call("OPTIONS", PREDICT)
    assert status == 400  # no Origin: not a preflight


def test_prometheus_metrics_count_requests_per_model_and_api(rest, golden):
    rest.post(PREDICT, {"instances": golden.x[:2].tolist()})
    rest.post("/v1/models/nope:predict", {"instances": [1]})
    status, headers, text = rest.get("/monitoring/prometheus/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    ok = [
        ln
        for ln in text.splitlines()
        if ln.startswith(':tensorflow:serving:request_count{model_name="digits",status="OK"}')
    ]
    assert ok and float(ok[0].split()[-1]) >= 1
    assert ':tensorflow:serving:request_count{model_name="nope",status="NOT_FOUND"}' in text
    assert (
        ':tensorflow:serving:request_latency_bucket{model_name="digits",API="predict",entrypoint="REST",le="+Inf"}'
        in text
    )
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    assert ":tensorflow:serving:batching_session:processed_batch_size_count" in text


def test_health_readiness_and_openapi(rest):
    assert rest.get("/healthz")[0] == 200
    status, _, doc = rest.get("/readyz")
    assert status == 200 and doc["status"] == "ready"
    status, _headers, doc = rest.get("/openapi.json")
    assert status == 200 and doc == json.loads(OPENAPI.read_text())
    assert doc["openapi"].startswith("3.")
    for path in (
        "/v1/models/{model}",
        "/v1/models/{model}/versions/{version}/metadata",
        "/v1/models/{model}:predict",
        "/v1/models/{model}/labels/{label}:classify",
        "/v1/models/{model}/versions/{version}:regress",
        "/readyz",
    ):
        assert path in doc["paths"], path
