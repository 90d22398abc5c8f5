"""The KServe manifests (deploy/kserve), checked offline: the ServingRuntime and InferenceService
hold only the fields KServe's API defines for them (the parts this project uses, written down
here from its API reference), the runtime's container validates strictly against the Kubernetes
schemas, and the runtime runs the project's server on the ports and paths it names.
tests/system/containers/test_kserve_runtime.py runs that container spec in Docker."""

from __future__ import annotations

import copy
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.repo import ROOT

KSERVE = ROOT / "deploy" / "kserve"
KUBERNETES_VERSIONS = ("1.27", "1.37")
PROTOCOLS = ["v1", "v2", "grpc-v1", "grpc-v2"]  # KServe's constants.InferenceServiceProtocol

_STR = {"type": "string"}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "labels": {"type": "object"}, "annotations": {"type": "object"}},
    "additionalProperties": False,
}


def _resource(api_version: str, kind: str, spec: dict) -> dict:
    """A custom resource with nothing at its top level but what every resource has."""
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _META,
            "spec": spec,
        },
        "additionalProperties": False,
    }


SERVING_RUNTIME = _resource(
    "serving.kserve.io/v1alpha1",
    "ServingRuntime",
    {
        "type": "object",
        "required": ["supportedModelFormats", "containers"],
        "properties": {
            "supportedModelFormats": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": _STR,
                        "version": _STR,
                        "autoSelect": {"type": "boolean"},
                        "priority": {"type": "integer", "minimum": 1},
                    },
                    "additionalProperties": False,
                },
            },
            "protocolVersions": {"type": "array", "items": {"enum": PROTOCOLS}},
            "multiModel": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "containers": {"type": "array", "minItems": 1},  # each: the Kubernetes schema
            "annotations": {"type": "object"},
            "labels": {"type": "object"},
        },
        "additionalProperties": False,
    },
)
INFERENCE_SERVICE = _resource(
    "serving.kserve.io/v1beta1",
    "InferenceService",
    {
        "type": "object",
        "required": ["predictor"],
        "properties": {
            "predictor": {
                "type": "object",
                "properties": {
                    "minReplicas": {"type": "integer", "minimum": 0},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "model": {
                        "type": "object",
                        "required": ["modelFormat"],
                        "properties": {
                            "modelFormat": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": _STR, "version": _STR},
                                "additionalProperties": False,
                            },
                            "runtime": _STR,
                            "protocolVersion": {"enum": PROTOCOLS},
                            "storageUri": {
                                "type": "string",
                                "pattern": "^(pvc|gs|s3|https?)://",
                            },
                        },
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    },
)


def load(name: str) -> dict:
    (doc,) = [d for d in yaml.safe_load_all((KSERVE / name).read_text()) if d]
    return doc


def runtime_container() -> dict:
    (c,) = load("serving-runtime.yaml")["spec"]["containers"]
    return c


def test_the_runtime_and_the_inference_service_hold_only_kserves_fields():
    jsonschema.validate(load("serving-runtime.yaml"), SERVING_RUNTIME)
    jsonschema.validate(load("inference-service.yaml"), INFERENCE_SERVICE)


def test_the_schemas_reject_what_kserve_would():
    runtime = load("serving-runtime.yaml")
    runtime["spec"]["protocolVersions"].append("v3")
    with pytest.raises(jsonschema.ValidationError, match="v3"):
        jsonschema.validate(runtime, SERVING_RUNTIME)
    service = load("inference-service.yaml")
    service["spec"]["predictor"]["model"]["storageURI"] = "pvc://x"  # the field is storageUri
    with pytest.raises(jsonschema.ValidationError, match="storageURI"):
        jsonschema.validate(service, INFERENCE_SERVICE)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_runtime_container_validates_strictly_as_a_kubernetes_container(version):
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kserve-runtime"},
        "spec": {"containers": [runtime_container()]},
    }
    kubernetes_validate.validate(pod, version, strict=True)
    broken = copy.deepcopy(pod)
    broken["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, version, strict=True)


def flags(container: dict) -> dict[str, str]:
    return dict(a.removeprefix("--").partition("=")[::2] for a in container["args"])


def test_the_runtime_runs_the_projects_server_where_kserve_expects_it():
    c = runtime_container()
    assert c["name"] == "kserve-container" and c["image"] == "model-server"
    assert re.search(r"^build model-server ", (ROOT / "docker/images.sh").read_text(), re.M)
    assert c["command"] == ["python", "-m", "serving"]
    f = flags(c)
    # the model where KServe's storage initializer puts it, named after the InferenceService
    assert f["model_base_path"] == "/mnt/models" and f["model_name"] == "{{.Name}}"
    assert (f["rest_api_port"], f["port"]) == ("8080", "9000")
    assert [p["containerPort"] for p in c["ports"]] == [8080]
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    for name in ("batching_parameters_file", "monitoring_config_file"):
        assert f[name].startswith("/app/serving/configs/")  # serving/Dockerfile copies serving/
        assert (ROOT / "serving" / "configs" / f[name].rsplit("/", 1)[1]).is_file()
    runtime = load("serving-runtime.yaml")
    metrics = (ROOT / "serving/configs/monitoring.config").read_text()
    assert f'path: "{runtime["metadata"]["annotations"]["prometheus.kserve.io/path"]}"' in metrics


def test_the_inference_service_uses_the_runtime_and_the_models_claim():
    runtime, service = load("serving-runtime.yaml"), load("inference-service.yaml")
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"] in [
        {"name": f["name"], "version": f["version"]}
        for f in runtime["spec"]["supportedModelFormats"]
    ]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    claim = yaml.safe_load((ROOT / "deploy/k8s/storage/models-pvc.yaml").read_text())
    assert (
        model["storageUri"]
        == f"pvc://{claim['metadata']['name']}/serving/{service['metadata']['name']}"
    )
