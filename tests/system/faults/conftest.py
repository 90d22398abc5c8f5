"""The fault-injection tier: the model-server image on a models volume, with clients that retry,
while the test breaks something (the process, the volume, a version). Each test says what users
see; docs/faults.md lists them."""

from __future__ import annotations

import http.client
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from pipeline.data import read_golden
from serving.process import free_port
from tests.serving.conftest import Rest
from tests.system.containers.conftest import engine, image, readable, wait_healthy

__all__ = ["engine"]  # the Docker engine fixture, shared with the container tier
TAG = "model-server"


@dataclass
class Volume:
    """A models volume with the session's digits SavedModel to publish as versions."""

    root: Path
    source: Path
    x: np.ndarray
    expected: np.ndarray  # what version 1 (and any copy of it) answers for x

    @property
    def base(self) -> Path:
        return self.root / "digits"

    def publish(self, version: int, source: Path | None = None) -> Path:
        """As the pipeline publishes: copied beside, then renamed into place."""
        scratch = self.root / f".incoming-{version}"
        shutil.copytree(source or self.source, scratch)
        readable(scratch)
        return scratch.rename(self.base / str(version))


@pytest.fixture(scope="session")
def reference(built) -> tuple[Path, np.ndarray, np.ndarray]:
    """The session's digits version, four golden inputs, and its answers for them (loaded once)."""
    import tensorflow as tf

    _, result, layout = built
    source = layout.version_dir(result.version)
    x = read_golden(layout.golden_dir).single().x[:4]
    signature = tf.saved_model.load(str(source)).signatures["serving_default"]
    return source, x, signature(image=tf.constant(x))["probabilities"].numpy()


@pytest.fixture
def volume(reference, tmp_path) -> Volume:
    root = tmp_path / "models"
    (root / "digits").mkdir(parents=True)
    vol = Volume(root, *reference)
    vol.publish(1)
    readable(root)
    return vol


@dataclass
class Server:
    container: object
    rest_port: int
    grpc_port: int

    def status(self) -> dict[str, str]:
        code, _, doc = Rest(self.rest_port).get("/v1/models/digits")
        assert code == 200, doc
        return {s["version"]: s["state"] for s in doc["model_version_status"]}

    def version_status(self, version: int) -> dict:
        """The version's status; {} while the server has not seen it."""
        _, _, doc = Rest(self.rest_port).get(f"/v1/models/digits/versions/{version}")
        return doc.get("model_version_status", [{}])[0]

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def wait_for(self, condition, seconds=120.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except (OSError, AssertionError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out; server log:\n{self.logs()[-3000:]}")


@pytest.fixture
def start(engine, volume):
    """Start the model-server image on the volume; every container is removed at the end."""
    image(engine, TAG)
    started = []

    def run(*flags: str, restart: bool = False, healthy: bool = True) -> Server:
        rest_port, grpc_port = free_port(), free_port()
        container = engine.containers.run(
            TAG,
            command=["--file_system_poll_wait_seconds=1", *flags],
            ports={"8501/tcp": ("127.0.0.1", rest_port), "8500/tcp": ("127.0.0.1", grpc_port)},
            volumes={str(volume.root): {"bind": "/models", "mode": "ro"}},
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 5} if restart else None,
            detach=True,
        )
        started.append(container)
        if healthy:
            wait_healthy(container)
        return Server(container, rest_port, grpc_port)

    yield run
    for container in started:
        container.remove(force=True)


@dataclass
class ClientLoop:
    """REST predicts on "latest" in a thread, each retried until answered (as a user's client
    with retries would), checked against the expected answer. Nothing retried is lost."""

    port: int
    body: dict
    expected: np.ndarray
    answered: int = 0
    retries: int = 0
    wrong: list = field(default_factory=list)
    lost: list = field(default_factory=list)  # requests never answered within 240 s

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ClientLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(120)

    def _run(self) -> None:
        client = Rest(self.port)
        while not self._stop.is_set():
            deadline = time.monotonic() + 240  # longer than a restart may take
            while True:
                try:
                    code, _, doc = client.post("/v1/models/digits:predict", self.body)
                except (OSError, http.client.HTTPException):  # refused, reset: server away
                    code, doc = None, None
                if code == 200:
                    got = np.asarray(doc["predictions"], dtype=np.float32)
                    if np.max(np.abs(got - self.expected)) > 1e-6:
                        self.wrong.append(got)
                    self.answered += 1
                    break
                if time.monotonic() > deadline:
                    self.lost.append((code, doc))
                    break
                self.retries += 1
                client = Rest(self.port)
                time.sleep(0.2)

    def wait_answers(self, more: int, seconds: float = 120.0) -> None:
        target = self.answered + more
        deadline = time.monotonic() + seconds
        while self.answered < target and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.answered >= target, f"{self.answered} answered, wanted {target}"


@pytest.fixture
def client_loop(volume):
    def make(server: Server) -> ClientLoop:
        return ClientLoop(server.rest_port, {"instances": volume.x.tolist()}, volume.expected)

    return make
