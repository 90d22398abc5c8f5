"""TF_CONFIG: a cluster the strategy can use is read; anything else is one error line, exit 2."""

import json

import numpy as np
import pytest

from pipeline.__main__ import main
from pipeline.cluster import KERAS_FIT_REFUSED, Cluster
from pipeline.distributed import weights_sha256
from pipeline.errors import UserError


def tf_config(workers, index, kind="worker") -> str:
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": kind, "index": index}})


def test_a_cluster_is_read_from_tf_config():
    cluster = Cluster.from_env({"TF_CONFIG": tf_config(["a:1", "b:1", "c:1"], 2)})
    assert cluster == Cluster(("a:1", "b:1", "c:1"), 2)
    assert (cluster.size, cluster.chief) == (3, False)
    assert Cluster.from_env({"TF_CONFIG": tf_config(["a:1", "b:1"], 0)}).chief
    assert Cluster.from_env({}) is None
    assert Cluster.from_env({"TF_CONFIG": "  "}) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "expected"),
        (json.dumps({"task": {"type": "worker", "index": 0}}), "expected"),
        (tf_config(["a:1", "b:1"], 2), "task index 2 is not one of 2 workers"),
        (tf_config(["a:1"], -1), "task index -1"),
        (tf_config(["a:1"], "0"), "task must be"),
        (tf_config(["a:1"], 0, kind="ps"), "task must be"),
        (tf_config([], 0), "list of host:port"),
        (tf_config(["no-port"], 0), "list of host:port"),
        (
            json.dumps(
                {
                    "cluster": {"worker": ["a:1"], "ps": ["b:1"]},
                    "task": {"type": "worker", "index": 0},
                }
            ),
            "only workers are supported",
        ),
    ],
)
def test_a_tf_config_the_strategy_could_not_use_is_refused_in_words(text, says):
    with pytest.raises(UserError, match=says):
        Cluster.from_env({"TF_CONFIG": text})


@pytest.mark.parametrize(
    ("env", "argv", "says"),
    [
        (tf_config(["a:1", "b:1"], 0), ["--trainer", "keras"], KERAS_FIT_REFUSED),
        (tf_config(["a:1", "b:1"], 0), ["--model", "x.keras"], "a brought --model is not trained"),
        (tf_config(["a:1"], 3), [], "task index 3 is not one of 1 workers"),
    ],
)
def test_the_cli_refuses_in_one_line(env, argv, says, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TF_CONFIG", env)
    assert main(["run", "--models-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {says}" if says == KERAS_FIT_REFUSED else says in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_the_weights_hash_sees_every_value_shape_and_order():
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)
    base = weights_sha256([a, b])
    assert base == weights_sha256([a.copy(), b.copy()])
    changed = a.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], np.float32(10))  # one ulp
    assert weights_sha256([changed, b]) != base
    assert weights_sha256([a.reshape(3, 2), b]) != base
    assert weights_sha256([b, a]) != base
