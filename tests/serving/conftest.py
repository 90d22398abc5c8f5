"""Fixtures for the server tests: a model repository in tmp, real server processes, clients."""

from __future__ import annotations

import http.client
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.data import read_golden
from serving.process import ServerProcess


@dataclass
class Repo:
    root: Path  # like models/serving: one base path per model
    source: Path  # the pipeline's SavedModel version, copied in to publish new versions
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
def repo(built, tmp_path_factory) -> Repo:
    """digits (latest 1, version 1), labelled (all, versions 1 and 2 labelled), examples."""
    _cfg, result, layout = built
    root = tmp_path_factory.mktemp("serving")
    source = layout.version_dir(result.version)
    r = Repo(root, source, root / "models.config")
    for name in ("digits", "labelled", "examples"):
        r.base(name).mkdir()
    r.publish("digits", 1)
    r.publish("labelled", 1)
    r.publish("labelled", 2)
    make_examples_model(r.base("examples") / "1")
    r.config.write_text(MODEL_CONFIG.format(root=root))
    return r


@pytest.fixture(scope="session")
def golden(built):
    return read_golden(built[2].golden_dir)


@pytest.fixture(scope="session")
def signature_outputs(repo, golden):
    """The SavedModel signature called in this process: what every server answer must equal."""
    loaded = tf.saved_model.load(str(repo.source))
    fn = loaded.signatures["serving_default"]
    return fn(image=tf.constant(golden.x))["probabilities"].numpy()


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
