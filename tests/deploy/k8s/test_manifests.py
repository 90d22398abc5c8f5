"""The Kubernetes manifests (deploy/k8s), checked offline: every kustomization renders with
`kubectl kustomize`, every object it makes validates strictly against the Kubernetes schemas, and
the properties the manifests exist for hold. Nothing here reaches a cluster.

    .venv/bin/python -m pytest tests/deploy/k8s -q      (make k8s)
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.repo import ROOT

K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
COMPONENTS = ("storage", "model-server", "web-demo", "training")
# The oldest cluster the manifests are written for, and the newest the validator's schemas know.
KUBERNETES_VERSIONS = ("1.27", "1.37")


@functools.cache
def render(folder: Path) -> tuple[dict, ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: `make k8s` installs Debian's kubernetes-client"
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def system() -> tuple[dict, ...]:
    return render(K8S)


def find(kind: str, name: str) -> dict:
    """The one object of this kind and name in the whole system (a generated name has a hash)."""
    named = re.compile(rf"{re.escape(name)}(-[a-z0-9]{{10}})?")
    matches = [o for o in system() if o["kind"] == kind and named.fullmatch(o["metadata"]["name"])]
    assert len(matches) == 1, (kind, name, [o["metadata"]["name"] for o in matches])
    return matches[0]


def pod(kind: str, name: str) -> dict:
    return find(kind, name)["spec"]["template"]


def container(kind: str, name: str) -> dict:
    (only,) = pod(kind, name)["spec"]["containers"]
    return only


def env(c: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


def containers(obj: dict) -> list[dict]:
    return (
        obj["spec"]["template"]["spec"]["containers"] if "template" in obj.get("spec", {}) else []
    )


def key_of(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def keys(objects: tuple[dict, ...]) -> list[tuple[str, str]]:
    return sorted(map(key_of, objects))


# -- rendered and valid ------------------------------------------------------------------------


def test_every_component_has_a_kustomization_and_the_top_level_holds_them_all():
    assert {p.relative_to(K8S).as_posix() for p in KUSTOMIZATIONS} == {
        ".",
        *COMPONENTS,
        "overlays/example",
    }
    assert keys(system()) == sorted(k for c in COMPONENTS for k in keys(render(K8S / c)))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_rendered_object_validates_strictly(folder, version):
    # strict: a field the schema does not name fails; a kind or apiVersion it lacks raises
    errors = []
    for obj in render(folder):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} {list(e.path)}: {e.message}")
    assert errors == []


def test_the_validator_rejects_a_misspelled_field_and_a_removed_api():
    broken = copy.deepcopy(find("Deployment", "model-server"))
    spec = broken["spec"]["template"]["spec"]["containers"][0]
    spec["readinesProbe"] = spec.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)

    old = dict(find("PodDisruptionBudget", "model-server"), apiVersion="policy/v1beta1")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(old, KUBERNETES_VERSIONS[0], strict=True)


def test_the_images_are_the_ones_docker_images_sh_builds_and_the_overlay_changes_only_them():
    built = set(re.findall(r"^build (\S+) ", (ROOT / "docker/images.sh").read_text(), re.M))
    images = {c["image"] for o in system() for c in containers(o)}
    assert images == {"model-server", "web-demo", "trainer"}
    assert images <= built

    overlay = copy.deepcopy(render(K8S / "overlays/example"))
    for c in (c for o in overlay for c in containers(o)):
        # registry/path/<image>:<tag>, back to the image's bare name
        c["image"] = re.fullmatch(r"[\w.-]+/(?:[\w.-]+/)*([\w-]+):[\w.-]+", c["image"]).group(1)
    assert sorted(overlay, key=key_of) == sorted(system(), key=key_of)


# -- the model server --------------------------------------------------------------------------


def test_model_server_is_ready_on_readyz_alive_on_healthz_and_has_time_to_load():
    c = container("Deployment", "model-server")
    rest = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert rest == {"grpc": 8500, "rest": 8501}
    probes = {k: c[k] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {k: (p["httpGet"]["path"], p["httpGet"]["port"]) for k, p in probes.items()} == {
        "startupProbe": ("/healthz", "rest"),
        "livenessProbe": ("/healthz", "rest"),
        "readinessProbe": ("/readyz", "rest"),
    }
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # compose's start_period


def test_model_server_takes_compose_flags_and_its_config_files_from_the_config_map():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    c = container("Deployment", "model-server")
    assert c["args"] == compose["x-server"]["command"]

    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod("Deployment", "model-server")["spec"]["volumes"]}
    config_map = find("ConfigMap", volumes["config"]["configMap"]["name"])
    named = [a.split("=", 1)[1] for a in c["args"] if a.endswith(".config")]
    assert named and {
        str(Path(mounts["config"]["mountPath"]) / f) for f in config_map["data"]
    } >= set(named)
    for name, text in config_map["data"].items():
        assert text == (ROOT / "serving/configs" / name).read_text(), f"copy {name} again"

    assert mounts["models"] == {"name": "models", "mountPath": "/models", "readOnly": True}
    assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    assert env(c) == {"MODEL_NAME": "digits", "MODEL_BASE_PATH": "/models/serving"}


def test_the_model_server_services_answer_to_the_name_the_web_demo_proxies_to():
    pods = pod("Deployment", "model-server")["metadata"]["labels"]
    conf = (K8S / "web-demo/nginx.conf").read_text()
    (host, port) = re.findall(r"proxy_pass http://([\w-]+):(\d+);", conf)[0]
    service = find("Service", host)
    assert service["metadata"]["name"] == host
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "grpc": 8500,
        "rest": int(port),
    }
    headless = find("Service", "model-server-grpc")
    assert headless["spec"]["clusterIP"] == "None"
    assert [p["port"] for p in headless["spec"]["ports"]] == [8500]
    for s in (service, headless):
        assert s["spec"]["selector"].items() <= pods.items()


def test_the_autoscaler_owns_the_replica_count_and_a_drain_leaves_one_serving():
    deployment = find("Deployment", "model-server")
    assert "replicas" not in deployment["spec"]  # else every apply resets what the HPA chose
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    hpa = find("HorizontalPodAutoscaler", "model-server")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert container("Deployment", "model-server")["resources"]["requests"]["cpu"]
    pdb = find("PodDisruptionBudget", "model-server")
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    pods = pod("Deployment", "model-server")["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pods.items()


# -- least privilege ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "uid", "read_only"),
    [
        ("Deployment", "model-server", 10001, True),  # `serving` in serving/Dockerfile
        ("Deployment", "web-demo", 33, True),  # www-data, nginx in web/Dockerfile
        ("Job", "train", 10001, False),  # `trainer` in pipeline/Dockerfile
    ],
)
def test_pods_run_as_their_image_user_without_privileges(kind, name, uid, read_only):
    spec = pod(kind, name)["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == uid
    assert spec["automountServiceAccountToken"] is False
    c = container(kind, name)
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"].get("readOnlyRootFilesystem", False) is read_only
    assert set(c["resources"]) == {"requests", "limits"}
    if read_only:  # what the process writes goes to an emptyDir at /tmp
        volumes = {v["name"]: v for v in spec["volumes"]}
        (tmp,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]]


def test_the_web_demo_writes_only_under_tmp_and_reads_the_models_volume():
    conf = (K8S / "web-demo/nginx.conf").read_text()
    written = re.findall(r"^\s*(?:pid|\w+_temp_path)\s+(\S+);", conf, re.M)
    assert len(written) == 6 and all(p.startswith("/tmp/") for p in written)
    c = container("Deployment", "web-demo")
    (conf_mount,) = [m for m in c["volumeMounts"] if m["name"] == "nginx-conf"]
    assert c["args"] == ["-c", f"{conf_mount['mountPath']}/nginx.conf"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in c["volumeMounts"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_web_demo_nginx_conf_is_web_nginx_conf_but_for_finding_the_server():
    def without_comments_and_resolution(text: str) -> list[str]:
        lines = (line.strip() for line in text.splitlines())
        skip = ("#", "resolver ", "set $model_server ", "proxy_pass ")
        return [line for line in lines if line and not line.startswith(skip)]

    ours = (K8S / "web-demo/nginx.conf").read_text()
    assert without_comments_and_resolution(ours) == without_comments_and_resolution(
        (ROOT / "web/nginx.conf").read_text()
    )
    assert "resolver" not in without_comments_and_resolution(ours)  # 127.0.0.11 is Docker's DNS


# -- multi-worker training ---------------------------------------------------------------------


def test_the_training_job_is_indexed_with_one_pod_per_worker_that_restarts_on_failure():
    job = find("Job", "train")
    c = container("Job", "train")
    workers = int(env(c)["WORKERS"])
    assert workers == 2
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == workers
    spec = pod("Job", "train")["spec"]
    assert spec["restartPolicy"] == "OnFailure"
    # the API server refuses podFailurePolicy unless restartPolicy is Never; no schema says so
    assert "podFailurePolicy" not in job["spec"]
    assert job["spec"]["backoffLimit"] >= workers
    (models,) = [v for v in spec["volumes"] if v["name"] == "models"]
    assert models["persistentVolumeClaim"]["claimName"] == "models"
    assert find("PersistentVolumeClaim", "models")["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_workers_headless_service_names_every_pod():
    job, c = find("Job", "train"), container("Job", "train")
    template = pod("Job", "train")
    service = find("Service", template["spec"]["subdomain"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    variables = env(c)
    assert variables["JOB_NAME"] == job["metadata"]["name"]  # an Indexed Job's pod: <job>-<index>
    assert variables["SERVICE_NAME"] == service["metadata"]["name"]
    port = int(variables["WORKER_PORT"])
    assert (
        [p["containerPort"] for p in c["ports"]]
        == [port]
        == [p["port"] for p in service["spec"]["ports"]]
    )


def test_each_worker_derives_its_tf_config_from_its_index():
    c = container("Job", "train")
    assert c["command"][:2] == ["bash", "-c"]
    assert c["args"][:6] == ["python", "-m", "pipeline", "run", "--trainer", "tf"]
    variables = env(c)
    workers = int(variables["WORKERS"])
    hosts = [
        f"{variables['JOB_NAME']}-{i}.{variables['SERVICE_NAME']}:{variables['WORKER_PORT']}"
        for i in range(workers)
    ]
    assert hosts == ["train-0.train:12345", "train-1.train:12345"]
    # the manifest's own script, with a command that prints TF_CONFIG in place of the pipeline
    show = [sys.executable, "-c", "import os; print(os.environ['TF_CONFIG'])"]
    for index in range(workers):
        out = subprocess.run(
            [*c["command"], *show],
            env={**variables, "JOB_COMPLETION_INDEX": str(index), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(out.stdout) == {
            "cluster": {"worker": hosts},
            "task": {"type": "worker", "index": index},
        }
