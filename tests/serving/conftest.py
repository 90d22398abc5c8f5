"""Fixtures for the server tests: a tiny SavedModel exported as the pipeline exports one, a model
repository in tmp, real server processes, clients. Nothing here trains: the model is untrained."""

from __future__ import annotations

import dataclasses
import http.client
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.config import INPUT_NAME, OUTPUT_NAME
from pipeline.data import DIGITS_CLASSES, DIGITS_MAX, DIGITS_NORMALIZATION, Single
from pipeline.export import export_savedmodel
from pipeline.metadata import ModelInfo
from serving.process import ROOT, ServerProcess

PER_CLASS = 5  # inputs per digit: 50 in all, enough for five requests of ten
SEED = 2  # the weights; this one's answers name seven different digits across the inputs


def tiny_model():
    """The served model's contract with no training: image float32 [-1, 8, 8, 1] in,
    probabilities float32 [-1, 10] out (softmax), weights drawn from a fixed seed."""
    init = keras.initializers.RandomNormal(stddev=0.3, seed=SEED)
    image = keras.Input(shape=(8, 8, 1), name=INPUT_NAME)
    flat = keras.layers.Flatten()(image)
    probabilities = keras.layers.Dense(
        len(DIGITS_CLASSES), activation="softmax", kernel_initializer=init, name=OUTPUT_NAME
    )(flat)
    return keras.Model(image, probabilities, name="tiny_digits")


@pytest.fixture(scope="session")
def keras_model():
    """The served model in this process, for the reference outputs."""
    return tiny_model()


@pytest.fixture(scope="session")
def golden(keras_model) -> Single:
    """Real digits from scikit-learn's bundled set, the first PER_CLASS of each class, in the
    training representation ([0, 1], ink bright), with the Keras call's outputs as reference."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rows = np.concatenate(
        [np.flatnonzero(bunch.target == c)[:PER_CLASS] for c in range(len(DIGITS_CLASSES))]
    )
    x = (bunch.images[rows] / DIGITS_MAX).astype(np.float32)[..., np.newaxis]
    reference = keras_model.predict(x, verbose=0)
    # the tests compare numbers row by row: they must differ between inputs for that to mean much
    assert len(set(reference.argmax(axis=1).tolist())) >= 5, reference.argmax(axis=1)
    return Single(x, bunch.target[rows].astype(np.int64), reference)


@pytest.fixture(scope="session")
def saved_model(keras_model, golden, tmp_path_factory) -> Path:
    """The tiny model written by the pipeline's exporter: serving_default and predict_image
    signatures, the warm-up requests and metadata.json in assets.extra/, as a real version."""
    info = ModelInfo.from_keras(keras_model, "digits", DIGITS_CLASSES, DIGITS_NORMALIZATION)
    out = tmp_path_factory.mktemp("savedmodel") / "1"
    export_savedmodel(keras_model, dataclasses.replace(info, version=1), out, {"image": golden.x})
    return out


@dataclass
class Repo:
    root: Path  # like models/serving: one base path per model
    source: Path  # the tiny SavedModel version, copied in to publish new versions
    config: Path

    def base(self, name: str) -> Path:
        return self.root / name

    def publish(self, name: str, version: int, source: Path | None = None) -> Path:
        """Copy a SavedModel in the way the pipeline publishes: built beside, renamed in."""
        scratch = self.root / f".building-{name}-{version}"
        shutil.copytree(source or self.source, scratch)
        final = self.base(name) / str(version)
        scratch.rename(final)
        return final


def make_examples_model(path: Path) -> None:
    """A SavedModel with classify and regress signatures over tf.Examples with one float feature x.

    classify: scores [1 - s, s] with s = sigmoid(x), classes ["neg", "pos"]; regress: 2x + 1.
    TF 2 writes every signature as "predict"; TF Serving checks these by their shape by default.
    """

    class Examples(tf.Module):
        def _x(self, serialized):
            features = tf.io.parse_example(
                serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)}
            )
            return features["x"]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            s = tf.sigmoid(self._x(inputs))
            scores = tf.concat([1 - s, s], axis=1)
            classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(inputs)[0], 1])
            return {"classes": classes, "scores": scores}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": 2 * self._x(inputs) + 1}

    module = Examples()
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "classify_x": module.classify.get_concrete_function(),
            "regress_x": module.regress.get_concrete_function(),
        },
    )


MODEL_CONFIG = """model_config_list {{
  config {{
    name: "digits"
    base_path: "{root}/digits"
    model_platform: "tensorflow"
    model_version_policy {{ latest {{ num_versions: 1 }} }}
  }}
  config {{
    name: "labelled"
    base_path: "{root}/labelled"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
  config {{
    name: "examples"
    base_path: "{root}/examples"
    model_platform: "tensorflow"
  }}
}}
"""


@pytest.fixture(scope="session")
def repo(saved_model, tmp_path_factory) -> Repo:
    """digits (latest 1, version 1), labelled (all, versions 1 and 2 labelled), examples."""
    root = tmp_path_factory.mktemp("serving")
    r = Repo(root, saved_model, root / "models.config")
    for name in ("digits", "labelled", "examples"):
        r.base(name).mkdir()
    r.publish("digits", 1)
    r.publish("labelled", 1)
    r.publish("labelled", 2)
    make_examples_model(r.base("examples") / "1")
    r.config.write_text(MODEL_CONFIG.format(root=root))
    return r


@pytest.fixture(scope="session")
def signatures(saved_model):
    """The SavedModel's signatures, loaded in this process."""
    return tf.saved_model.load(str(saved_model)).signatures


@pytest.fixture(scope="session")
def signature_outputs(signatures, golden):
    """The SavedModel signature called in this process: what every server answer must equal."""
    return signatures["serving_default"](image=tf.constant(golden.x))["probabilities"].numpy()


@pytest.fixture(scope="session")
def drawn_digit(golden, signatures, tmp_path_factory):
    """A 3 from the inputs drawn as a 32x32 dark-on-light PNG, and what serving_default answers
    for the 8x8 input the PNG stores: what predict_image must answer for the PNG.

    Each cell becomes a 4x4 block, so predict_image's area resize gives back the cell exactly, as
    the PNG's 8-bit grey stores it (within 1/510 of the golden sample).
    """
    i = int(np.argmax(golden.labels == 3))
    big = np.kron(golden.x[i, :, :, 0], np.ones((4, 4)))
    grey = np.round((1.0 - big) * 255).astype(np.uint8)  # ink dark, paper light
    path = tmp_path_factory.mktemp("inputs") / "three.png"
    path.write_bytes(tf.io.encode_png(grey[..., None]).numpy())
    as_stored = (1.0 - grey[::4, ::4].astype(np.float32) / 255)[None, ..., None]
    expected = signatures["serving_default"](image=tf.constant(as_stored))["probabilities"]
    return path, expected.numpy()[0]


BATCHING = """max_batch_size { value: 64 }
batch_timeout_micros { value: 1000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 2 }
"""
MONITORING = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
MAX_REQUEST_BYTES = 1_000_000


@pytest.fixture(scope="session")
def server(repo, tmp_path_factory):
    """The model server on free ports with batching, metrics, CORS and 1 s polling."""
    conf = tmp_path_factory.mktemp("server-conf")
    (conf / "batching.config").write_text(BATCHING)
    (conf / "monitoring.config").write_text(MONITORING)
    proc = ServerProcess(
        [
            f"--model_config_file={repo.config}",
            "--enable_batching",
            f"--batching_parameters_file={conf / 'batching.config'}",
            f"--monitoring_config_file={conf / 'monitoring.config'}",
            "--rest_api_enable_cors_support",
            "--file_system_poll_wait_seconds=1",
            f"--max_request_bytes={MAX_REQUEST_BYTES}",
        ],
        log=conf / "server.log",
    )
    with proc:
        yield proc


@pytest.fixture
def start_server():
    """Start a server process with the given flags; each is stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(flags: list[str], log: Path | None = None) -> ServerProcess:
        proc = ServerProcess(flags, log=log)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def run_server():
    """Run `python -m serving` on free ports to its exit (a start-up that must fail)."""

    def run(*flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "serving", "--port=0", "--rest_api_port=0", *flags],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


class Rest:
    """A keep-alive HTTP client that returns (status, headers, parsed JSON or raw text)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body=None, headers=None):
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        try:
            self.conn.request(method, path, data, headers or {})
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        raw = response.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode(errors="replace")
        return response.status, dict(response.getheaders()), doc

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body):
        return self.call("POST", path, body, {"Content-Type": "application/json"})


@pytest.fixture
def rest(server):
    client = Rest(server.rest_port)
    yield client
    client.conn.close()


def as_np(predictions) -> np.ndarray:
    return np.asarray(predictions, dtype=np.float32)
