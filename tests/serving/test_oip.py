"""The Open Inference Protocol (KServe V2) beside TF Serving's API: the official clients
(tritonclient http and grpc, unchanged, in envs/oip-client) get the SavedModel signature's
outputs within 1e-6 for a one-input image model and a model with float and string inputs and two
outputs, and the protocol's answers for health, metadata and errors; hostile bodies get one
error each."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest

from serving.oip_proto import MESSAGES, SERVICE
from serving.process import ROOT, ServerProcess
from tests.two_inputs import export_two_input_model, samples

CLIENT_PYTHON = ROOT / "envs" / "oip-client" / ".venv" / "bin" / "python"
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def oip_server(repo, tmp_path_factory):
    """One server for the tiny digits model and the two-input wine model: (server, its root)."""
    root = tmp_path_factory.mktemp("oip")
    export_two_input_model(root / "wine" / "1")
    config = root / "models.config"
    entries = [("digits", repo.base("digits")), ("wine", root / "wine")]
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{n}" base_path: "{b}" model_platform: "tensorflow" }}\n'
            for n, b in entries
        )
        + "}\n"
    )
    with ServerProcess([f"--model_config_file={config}"], log=root / "server.log") as server:
        yield server, root


@pytest.fixture(scope="module")
def wine_expected(oip_server):
    """The wine model's inputs and what its serving_default answers for them, in this process."""
    import tensorflow as tf

    _, root = oip_server
    signature = tf.saved_model.load(str(root / "wine" / "1")).signatures["serving_default"]
    x = samples()
    out = signature(numeric=tf.constant(x["numeric"]), region=tf.constant(x["region"]))
    return x, {k: v.numpy() for k, v in out.items()}


def run_client(server, model: str, inputs: dict, work):
    if not CLIENT_PYTHON.exists():
        pytest.fail(f"no {CLIENT_PYTHON}: run `make setup` (it builds envs/oip-client)")
    np.savez(work / f"{model}-in.npz", **inputs)
    rest = server.rest_url.removeprefix("http://")
    script = ROOT / "tests" / "serving" / "oip_client.py"
    args = ["--rest", rest, "--grpc", server.grpc_target, "--model", model]
    args += ["--inputs", str(work / f"{model}-in.npz"), "--out", str(work / model)]
    proc = subprocess.run(
        [str(CLIENT_PYTHON), str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((work / model / "report.json").read_text())
    with np.load(work / model / "outputs.npz") as f:
        outputs = {k: f[k] for k in f.files}
    return report, outputs


@pytest.fixture(scope="module")
def results(oip_server, wine_expected, golden, signature_outputs, tmp_path_factory):
    """The client script's report and outputs per model, with what they must equal."""
    server, _ = oip_server
    work = tmp_path_factory.mktemp("oip-client")
    expected = {
        "wine": wine_expected,
        "digits": ({"image": golden.x}, {"probabilities": signature_outputs}),
    }
    return {
        model: (*run_client(server, model, inputs, work), want)
        for model, (inputs, want) in expected.items()
    }


@pytest.mark.parametrize("model", ["digits", "wine"])
def test_both_clients_get_the_signatures_outputs(results, model):
    report, outputs, want = results[model]
    calls = {key.split("/")[0] for key in outputs}
    # each client's default (binary for http, raw for grpc), JSON both ways, one output asked for
    assert calls == {"http", "http-json", "http-one", "grpc", "grpc-one"}
    for key, got in outputs.items():
        name = key.split("/")[1]
        assert got.dtype == np.float32 and got.shape == want[name].shape, key
        assert np.max(np.abs(got - want[name])) <= TOLERANCE, key
    for tag in ("http", "grpc"):
        assert report[tag]["one_output"] == [sorted(want)[-1]]  # only the output asked for


@pytest.mark.parametrize("tag", ["http", "grpc"])
def test_health_and_metadata_as_the_protocol_gives_them(results, tag):
    report = results["wine"][0][tag]
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["unknown_model_ready"] is False
    assert report["server"]["name"] == "keras-deploy-model-server"
    assert "binary_tensor_data" in report["server"]["extensions"]
    model = report["model"]
    for tensor in model["inputs"] + model["outputs"]:
        tensor["shape"] = [int(d) for d in tensor["shape"]]  # the grpc client's JSON: strings
    assert model == {
        "name": "wine",
        "versions": ["1"],
        "platform": "tensorflow_savedmodel",
        "inputs": [
            {"name": "numeric", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "region", "datatype": "BYTES", "shape": [-1, 1]},
        ],
        "outputs": [
            {"name": "alcohol", "datatype": "FP32", "shape": [-1, 1]},
            {"name": "cultivar", "datatype": "FP32", "shape": [-1, 3]},
        ],
    }
    digits = results["digits"][0][tag]["model"]
    assert [(t["name"], t["datatype"]) for t in digits["inputs"]] == [("image", "FP32")]


ERRORS = {
    # case: (http status, grpc status, words in the message)
    "unknown model": ("404", "StatusCode.NOT_FOUND", "no-such-model"),
    "wrong datatype": (
        "400",
        "StatusCode.INVALID_ARGUMENT",
        "has datatype FP64, the model takes FP32",
    ),
    "data and shape disagree": (
        "400",
        "StatusCode.INVALID_ARGUMENT",
        "FP32 [4, 4] takes 64 bytes of raw data, got 48",
    ),
    "version not loaded": ("404", "StatusCode.NOT_FOUND", "999"),
    "unknown output": ("400", "StatusCode.INVALID_ARGUMENT", "unexpected output 'nope'"),
    "unknown model metadata": ("404", "StatusCode.NOT_FOUND", "no-such-model"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_are_the_protocols(results, case):
    http_status, grpc_status, words = ERRORS[case]
    errors = {tag: results["wine"][0][tag]["errors"][case] for tag in ("http", "grpc")}
    assert errors["http"]["status"] == http_status, errors
    assert errors["grpc"]["status"] == grpc_status, errors
    for e in errors.values():
        assert words in e["message"], e


def post(server, path: str, body: bytes, headers: dict | None = None):
    request = urllib.request.Request(
        server.rest_url + path,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wine_json(numeric=None, region=None) -> dict:
    x = samples()
    numeric = x["numeric"] if numeric is None else numeric
    region = [[s] for s in x["region"][:, 0].tolist()] if region is None else region
    return {
        "id": "req-7",
        "inputs": [
            {
                "name": "numeric",
                "datatype": "FP32",
                "shape": list(numeric.shape),
                "data": numeric.tolist(),
            },
            {"name": "region", "datatype": "BYTES", "shape": [len(region), 1], "data": region},
        ],
    }


def test_a_json_request_gets_json_outputs_by_name_with_its_id(oip_server, wine_expected):
    server, _ = oip_server
    _, want = wine_expected
    status, headers, body = post(
        server, "/v2/models/wine/versions/1/infer", json.dumps(wine_json()).encode()
    )
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["model_name"] == "wine" and doc["model_version"] == "1" and doc["id"] == "req-7"
    assert [o["name"] for o in doc["outputs"]] == ["alcohol", "cultivar"]
    for out in doc["outputs"]:
        got = np.asarray(out["data"], np.float32).reshape(out["shape"])
        assert out["datatype"] == "FP32" and np.max(np.abs(got - want[out["name"]])) <= TOLERANCE


def infer_json(*inputs: dict) -> bytes:
    return json.dumps({"inputs": list(inputs)}).encode()


def numeric(**fields) -> dict:
    return {"name": "numeric", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3], **fields}


def binary(head: dict, tail: bytes, length: int | None = None) -> tuple[bytes, dict]:
    """A body in the binary extension: the JSON head, then `tail`; its header gives the head's size."""
    raw = json.dumps(head).encode()
    return raw + tail, {
        "Inference-Header-Content-Length": str(len(raw) if length is None else length)
    }


CUT_SHORT = binary(
    {
        "inputs": [
            {
                "name": "region",
                "datatype": "BYTES",
                "shape": [1, 1],
                "parameters": {"binary_data_size": 8},
            }
        ]
    },
    b"\x09\x00\x00\x00abcd",  # an element that says 9 bytes and holds 4
)
BAD_BODIES = {
    "not JSON": (b"{not json", {}, "not valid JSON"),
    "not an object": (b"[1, 2]", {}, "must be a JSON object"),
    "no inputs": (b'{"inputs": []}', {}, "'inputs' must be a non-empty list"),
    "too little data": (infer_json(numeric(data=[1, 2])), {}, "takes 3 elements, data holds 2"),
    "unknown datatype": (infer_json(numeric(datatype="FP99")), {}, "datatype 'FP99' is not one of"),
    "negative dim": (infer_json(numeric(shape=[1, -3], data=[])), {}, "non-negative integers"),
    "a string for a number": (infer_json(numeric(data=[1, "x", 3])), {}, "'x' is not a FP32 value"),
    "an input missing": (infer_json(numeric()), {}, "no input 'region'"),
    "binary data missing": (
        infer_json({**numeric(), "data": None, "parameters": {"binary_data_size": 12}}),
        {},
        "runs past the body's binary data",
    ),
    "header longer than the body": (*binary({"inputs": []}, b"xxxx", 99), "is not a length within"),
    "BYTES cut short": (*CUT_SHORT, "is cut short"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_body_is_one_error_and_the_server_keeps_serving(oip_server, case):
    server, _ = oip_server
    body, headers, words = BAD_BODIES[case]
    status, _, answer = post(server, "/v2/models/wine/infer", body, headers)
    assert status == 400, answer
    assert words in json.loads(answer)["error"]
    assert post(server, "/v2/models/wine/infer", json.dumps(wine_json()).encode())[0] == 200


def test_health_urls_answer_with_status_codes_alone(oip_server):
    server, _ = oip_server
    for path, want in [
        ("/v2/health/live", 200),
        ("/v2/health/ready", 200),
        ("/v2/models/wine/ready", 200),
        ("/v2/models/wine/versions/1/ready", 200),
        ("/v2/models/wine/versions/2/ready", 400),
        ("/v2/models/no-such-model/ready", 400),
    ]:
        try:
            with urllib.request.urlopen(server.rest_url + path, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        assert (status, body) == (want, b""), path


def test_typed_grpc_contents_are_read_like_raw_ones(oip_server, golden, signature_outputs):
    """tritonclient always sends raw_input_contents; other clients send typed contents."""
    server, _ = oip_server
    request = MESSAGES["ModelInferRequest"](model_name="digits")
    tensor = request.inputs.add(name="image", datatype="FP32", shape=list(golden.x.shape))
    tensor.contents.fp32_contents.extend(golden.x.reshape(-1).tolist())
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(
            f"/{SERVICE}/ModelInfer",
            request_serializer=MESSAGES["ModelInferRequest"].SerializeToString,
            response_deserializer=MESSAGES["ModelInferResponse"].FromString,
        )
        response = call(request, timeout=30)
        (out,) = response.outputs
        got = np.frombuffer(response.raw_output_contents[0], "<f4").reshape(list(out.shape))
        assert np.max(np.abs(got - signature_outputs)) <= TOLERANCE
        tensor.datatype = "FP16"  # FP16 has no typed contents: it must come raw
        with pytest.raises(grpc.RpcError) as e:
            call(request, timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "FP16 must be sent as raw_input_contents" in e.value.details()


DESCRIPTORS = """
import json, sys
from tritonclient.grpc import service_pb2
def fields(d, prefix=""):
    out = {prefix + d.name: sorted([f.name, f.number, f.type, f.label == 3] for f in d.fields)}
    for n in d.nested_types:
        out.update(fields(n, prefix + d.name + "."))
    return out
names = json.loads(sys.argv[1])
print(json.dumps({n: fields(getattr(service_pb2, n.split(".")[0]).DESCRIPTOR)[n] for n in names}))
"""


def test_the_messages_match_tritonclients_field_for_field():
    """serving/oip_proto.py builds the protocol's messages without protoc: each of its fields
    (name, number, type, repeated) is in tritonclient's generated protos (a superset)."""
    if not CLIENT_PYTHON.exists():
        pytest.fail(f"no {CLIENT_PYTHON}: run `make setup` (it builds envs/oip-client)")
    ours = {
        name: sorted([f.name, f.number, f.type, f.is_repeated] for f in cls.DESCRIPTOR.fields)
        for name, cls in MESSAGES.items()
    }
    proc = subprocess.run(
        [str(CLIENT_PYTHON), "-c", DESCRIPTORS, json.dumps(sorted(ours))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout)
    assert len(ours) == 18  # 13 messages and 5 nested ones
    for name, fields in ours.items():
        missing = [f for f in fields if f not in theirs[name]]
        assert not missing, (name, missing)
