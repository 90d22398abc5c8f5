"""The swarm stack (deploy/swarm) on this engine, one per module: deployed by `swarm.sh up` on the
session's digits version, removed by `swarm.sh down` even when a test fails, the swarm left only
if the test started it. A helper container on the stack's attachable network reaches each replica
(their overlay addresses are not routed from the host) and runs clients inside the network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import numpy as np
import pytest

from serving.process import ROOT, free_port
from tests.system.containers.conftest import image, readable
from tests.system.faults.conftest import engine, reference

__all__ = ["engine", "reference"]  # the Docker engine, the session's version and its answers
SWARM_SH = ROOT / "deploy" / "swarm" / "swarm.sh"
REPLICAS = 3

# Each replica's successful digits calls, from its own Prometheus metrics: run in the helper
# container with the replicas' addresses as arguments, prints {address: count}.
COUNT_SCRIPT = r"""
import json, re, sys, urllib.request
counts = {}
for ip in sys.argv[1:]:
    with urllib.request.urlopen(f"http://{ip}:8501/monitoring/prometheus/metrics", timeout=10) as r:
        found = re.search(
            r':tensorflow:serving:request_count\{model_name="digits",status="OK"\} (\S+)',
            r.read().decode(),
        )
    counts[ip] = int(float(found[1])) if found else 0
print(json.dumps(counts))
"""


@dataclass
class Stack:
    name: str
    rest_port: int
    grpc_port: int
    web_port: int
    engine: object
    helper: object  # a model-server container on <name>_serving, idle, for exec_run
    x: np.ndarray
    expected: np.ndarray
    up_output: str  # what swarm.sh up printed

    @property
    def network(self) -> str:
        return f"{self.name}_serving"

    @property
    def dns_target(self) -> str:
        return f"dns:///tasks.{self.name}_model-server:8500"

    def replicas(self) -> dict[str, str]:
        """The running replicas: container id -> address on the stack's network."""
        found = self.engine.containers.list(
            filters={"label": f"com.docker.swarm.service.name={self.name}_model-server"}
        )
        return {
            c.id: c.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"] for c in found
        }

    def inside(self, *command: str) -> str:
        """A command run in the helper container; its stdout, or the test fails with its output."""
        code, (out, err) = self.helper.exec_run(list(command), demux=True)
        out, err = (out or b"").decode(), (err or b"").decode()
        assert code == 0, f"{command[:3]} exited {code}: {err[-2000:]}{out[-500:]}"
        return out

    def counts(self) -> dict[str, int]:
        """Successful digits calls counted by each running replica, by container id."""
        replicas = self.replicas()
        by_ip = json.loads(self.inside("python", "-c", COUNT_SCRIPT, *replicas.values()))
        return {cid: by_ip[ip] for cid, ip in replicas.items()}

    def proxy_up(self, backend: str) -> int:
        """Replicas the proxy sends backend's traffic to (its health checks on /readyz pass)."""
        proxy = self.engine.containers.list(
            filters={"label": f"com.docker.swarm.service.name={self.name}_proxy"}
        )
        if not proxy:
            return 0
        _, out = proxy[0].exec_run(
            [
                "bash",
                "-c",
                'exec 3<>/dev/tcp/127.0.0.1/8404 && printf "GET /stats;csv HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3',
            ]
        )
        rows = [line.split(",") for line in out.decode().splitlines()]
        return sum(
            1
            for r in rows
            if len(r) > 17 and r[0] == backend and r[1].startswith("replica") and r[17] == "UP"
        )

    def wait(self, condition, seconds: float = 240.0, what: str = "") -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what or condition}")


def swarm_sh(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SWARM_SH), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def swarm_state(engine) -> str:
    return engine.info()["Swarm"]["LocalNodeState"]


@pytest.fixture(scope="module")
def stack(engine, reference, tmp_path_factory):
    """REPLICAS replicas, the proxy and the web demo on free 127.0.0.1 ports, ready behind the
    proxy; everything removed at the end, and the swarm left if this fixture joined it."""
    for tag in ("model-server", "model-proxy", "web-demo"):
        image(engine, tag)
    source, x, expected = reference
    root = tmp_path_factory.mktemp("swarm")
    models = root / "models"
    shutil.copytree(source, models / "serving" / "digits" / "1")
    work = root / "work"  # the helper's inputs
    work.mkdir()
    np.save(work / "x.npy", x)
    np.save(work / "expected.npy", expected)
    readable(root)
    name = f"swarmtest{os.getpid()}"
    env = {
        "STACK": name,
        "REPLICAS": str(REPLICAS),
        "MODELS_DIR": str(models),
        "REST_PORT": str(free_port()),
        "GRPC_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
    }
    joined = swarm_state(engine) == "inactive"
    helper = None
    try:
        up = swarm_sh("up", env)
        assert up.returncode == 0, up.stdout + up.stderr
        helper = engine.containers.run(
            "model-server",
            entrypoint=["sleep", "infinity"],
            network=f"{name}_serving",
            # the image's own client, as deploy/swarm/README.md tells users to run it
            volumes={str(work): {"bind": "/work", "mode": "ro"}},
            detach=True,
        )
        yield Stack(
            name,
            int(env["REST_PORT"]),
            int(env["GRPC_PORT"]),
            int(env["WEB_PORT"]),
            engine,
            helper,
            x,
            expected,
            up.stdout,
        )
    finally:
        if helper is not None:  # attached to the stack's network: it must go first
            helper.remove(force=True)
        down = swarm_sh("down", {**env, **({} if joined else {"KEEP_SWARM": "1"})})
        if joined and swarm_state(engine) != "inactive":  # up failed before it could mark it
            engine.swarm.leave(force=True)
        assert down.returncode == 0, down.stdout + down.stderr


def share_check(counts: dict[str, int], calls: int) -> None:
    """Every call counted once, by one of the replicas, each of which got a fair share."""
    assert len(counts) == REPLICAS, counts
    assert sum(counts.values()) == calls, counts
    assert min(counts.values()) >= 0.15 * calls, counts


ROUND_ROBIN_SCRIPT = r"""
import json, sys
import numpy as np
from serving.client import Client, build_parser

target, lb, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
x, expected = np.load("/work/x.npy"), np.load("/work/expected.npy")
args = build_parser().parse_args(["grpc", "--target", target, "--lb", lb, "--npy", "/work/x.npy"])
client = Client(args)  # one channel for every call
worst = 0.0
for _ in range(calls):
    got = client.predict({"image": x}, "serving_default", None, {})["probabilities"]
    worst = max(worst, float(np.max(np.abs(got - expected))))
client.close()
print(json.dumps({"worst": worst}))
"""
