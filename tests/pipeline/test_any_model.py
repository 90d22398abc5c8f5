"""Any Keras model: several named inputs (float, string, variable-length int) and two outputs go
through export, every converter, every runtime, the server, predict and the report."""

import json

import keras
import numpy as np
import pytest

from pipeline import stages
from pipeline.__main__ import main
from pipeline.config import PipelineConfig
from pipeline.data import read_golden
from pipeline.layout import Layout
from pipeline.outcomes import MISSED_GATE, NOT_SUPPORTED, VERIFIED
from pipeline.targets import TARGETS

REGIONS = ["north", "south", "east"]


def mixed_samples(n: int, seed: int) -> dict:
    """Inputs and labels where every input matters: the class is the region's, shifted by the
    first numeric feature; the regression value is the sum of the token ids over ten."""
    rng = np.random.default_rng(seed)
    region = rng.integers(0, 3, n)
    numeric = rng.normal(size=(n, 3)).astype(np.float32)
    tokens = rng.integers(1, 20, size=(n, 6)).astype(np.int32)
    return {
        "numeric": numeric,
        "region": np.array(REGIONS)[region][:, None],
        "tokens": tokens,
        "y_kind": (region + (numeric[:, 0] > 1.0)) % 3,
        "y_size": tokens.sum(axis=1).astype(np.float32) / 10.0,
    }


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """A functional model with three inputs and two outputs, trained briefly."""
    keras.utils.set_random_seed(0)
    numeric = keras.Input((3,), name="numeric")
    region = keras.Input((1,), dtype="string", name="region")
    tokens = keras.Input((None,), dtype="int32", name="tokens")  # any sequence length
    onehot = keras.layers.StringLookup(vocabulary=REGIONS, output_mode="one_hot")(region)
    embedded = keras.layers.Embedding(20, 4)(tokens)
    pooled = keras.layers.GlobalAveragePooling1D()(embedded)
    hidden = keras.layers.Concatenate()([numeric, onehot, pooled])
    hidden = keras.layers.Dense(16, activation="relu")(hidden)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(hidden)
    size = keras.layers.Dense(1, name="size")(hidden)
    model = keras.Model(
        {"numeric": numeric, "region": region, "tokens": tokens}, {"kind": kind, "size": size}
    )
    model.compile("adam", {"kind": "sparse_categorical_crossentropy", "size": "mse"})
    train = mixed_samples(600, 1)
    import tensorflow as tf

    inputs = {k: tf.constant(train[k]) for k in ("numeric", "region", "tokens")}
    labels = {"kind": tf.constant(train["y_kind"]), "size": tf.constant(train["y_size"])}
    model.fit(inputs, labels, epochs=20, verbose=0)
    root = tmp_path_factory.mktemp("any")
    model.save(root / "mixed.keras")
    np.savez(root / "samples.npz", **mixed_samples(80, 2))
    return root


@pytest.fixture(scope="module")
def published(user_model, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    cfg = PipelineConfig(name="mixed", models_dir=models, latency_runs=3)
    result = stages.run(cfg, user_model / "mixed.keras", user_model / "samples.npz")
    return result, Layout(models, "mixed")


def test_every_target_ends_with_one_of_three_outcomes_and_the_model_is_published(published):
    result, _ = published
    assert result.published
    status = {t: o.status for t, o in result.outcomes.items()}
    assert set(status) == set(TARGETS)
    assert set(status.values()) <= {VERIFIED, NOT_SUPPORTED, MISSED_GATE}
    # float, string and integer inputs run in every runtime of these targets
    for target in ("keras", "savedmodel", "tflite-fp32", "tflite-fp16", "tfjs"):
        assert status[target] == VERIFIED, (target, result.outcomes[target].reason)
    runtimes = {r.runtime for r in result.rows if r.passed}
    assert {"keras", "tf-signature", "rest", "grpc", "litert", "tfjs-node"} <= runtimes


def test_the_signature_keeps_every_name_and_dtype(published):
    import tensorflow as tf

    result, layout = published
    manifest = result.manifest
    assert manifest["inputs"] == [
        {"name": "numeric", "shape": [None, 3], "dtype": "float32"},
        {"name": "region", "shape": [None, 1], "dtype": "string"},
        {"name": "tokens", "shape": [None, None], "dtype": "int32"},
    ]
    assert {o["name"] for o in manifest["outputs"]} == {"kind", "size"}
    signature = tf.saved_model.load(str(layout.version_dir(1))).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert {k: v.dtype for k, v in specs.items()} == {
        "numeric": tf.float32,
        "region": tf.string,
        "tokens": tf.int32,
    }
    assert set(signature.structured_outputs) == {"kind", "size"}


def test_the_golden_set_keeps_each_input_label_and_reference_by_name(published, user_model):
    _, layout = published
    golden = read_golden(layout.golden_dir)
    with np.load(user_model / "samples.npz") as samples:
        np.testing.assert_array_equal(golden.inputs["tokens"], samples["tokens"])
        assert golden.inputs["region"].tolist() == samples["region"].tolist()
        np.testing.assert_array_equal(golden.labels["kind"], samples["y_kind"])
    assert set(golden.reference) == {"kind", "size"}
    assert golden.reference["kind"].shape == (80, 3) and golden.reference["size"].shape == (80, 1)
    doc = json.loads((layout.golden_dir / "golden.json").read_text())
    assert doc["inputs"]["region"]["values"][0][0] in REGIONS


def test_each_output_is_scored_and_a_quantized_target_names_the_output_that_missed(published):
    result, _ = published
    int8 = result.outcomes["tflite-int8"]
    if int8.status == MISSED_GATE:
        assert "kind: " in int8.reason or "size: " in int8.reason
    rows = [r for r in result.rows if r.target == "tflite-fp32"]
    assert rows and all(r.top1_agreement == 1.0 and r.max_abs_diff < 1e-4 for r in rows)


def test_the_server_answers_row_columnar_and_grpc_with_the_signatures_outputs(published):
    """REST in both formats (strings as JSON strings) and gRPC through the official stub, each
    equal to the SavedModel's own call."""
    import http.client

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.process import ServerProcess

    _, layout = published
    golden = read_golden(layout.golden_dir)
    inputs = {k: v[:5] for k, v in golden.inputs.items()}
    signature = tf.saved_model.load(str(layout.version_dir(1))).signatures["serving_default"]
    expected = {
        k: v.numpy() for k, v in signature(**{k: tf.constant(v) for k, v in inputs.items()}).items()
    }
    flags = ["--model_name=mixed", f"--model_base_path={layout.serving_base}"]
    with ServerProcess(flags, log=layout.root / "server.log") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
        columns = {k: v.tolist() for k, v in inputs.items()}
        rows = [{k: columns[k][i] for k in columns} for i in range(5)]
        for body, key in (({"inputs": columns}, "outputs"), ({"instances": rows}, "predictions")):
            conn.request("POST", "/v1/models/mixed:predict", json.dumps(body))
            response = conn.getresponse()
            doc = json.loads(response.read())
            assert response.status == 200, doc
            answer = doc[key]
            if key == "predictions":  # one dict per sample
                answer = {name: [row[name] for row in answer] for name in expected}
            for name, value in expected.items():
                np.testing.assert_allclose(np.array(answer[name]), value, atol=1e-6)
        conn.close()
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "mixed"
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            response = stub.Predict(request, timeout=60)
            for name, value in expected.items():
                got = tf.make_ndarray(response.outputs[name])
                np.testing.assert_allclose(got, value, atol=1e-6)
            request.inputs["tokens"].CopyFrom(tf.make_tensor_proto(inputs["tokens"].astype(float)))
            with pytest.raises(grpc.RpcError) as error:
                stub.Predict(request, timeout=60)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_predict_takes_an_npz_and_prints_every_output(published, user_model, capsys):
    _, layout = published
    with np.load(user_model / "samples.npz") as samples:
        np.savez(layout.root / "two.npz", **{k: samples[k][:2] for k in samples.files})
    for target in ("savedmodel", "tflite-fp32", "tfjs"):
        args = ["predict", "--name", "mixed", "--models-dir", str(layout.root), "--target", target]
        assert main([*args, str(layout.root / "two.npz")]) == 0
        out = capsys.readouterr().out
        assert "kind:" in out and "size:" in out, out
        assert out.count("[0] ") == 2 and out.count("[1] ") == 2


def test_a_multi_input_model_refuses_an_image_for_predict(published, capsys, tmp_path):
    _, layout = published
    (tmp_path / "a.npy").write_bytes(b"")
    args = ["predict", "--name", "mixed", "--models-dir", str(layout.root)]
    assert main([*args, str(tmp_path / "a.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "several inputs (numeric, region, tokens)" in err


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"numeric": np.zeros((4, 3), np.float32)}, "no array named 'region'"),
        (
            {
                "numeric": np.zeros((4, 5), np.float32),
                "region": [["north"]] * 4,
                "tokens": [[1]] * 4,
            },
            "input 'numeric' has shape [4, 5], the model takes ['N', 3]",
        ),
        (
            {"numeric": np.zeros((4, 3)), "region": np.zeros((4, 1)), "tokens": [[1]] * 4},
            "input 'region' holds float64 numbers, the model takes string",
        ),
        (
            {"numeric": np.zeros((4, 3)), "region": [["north"]] * 4, "tokens": [[1.5]] * 4},
            "input 'tokens' holds fractions, the model takes int32",
        ),
        (
            {"numeric": np.zeros((4, 3)), "region": [["x"]] * 4, "tokens": [[1]] * 4, "y": [0] * 4},
            "arrays ['y'] match no input or label",
        ),
        (
            {"numeric": np.zeros((4, 3)), "region": [["x"]] * 3, "tokens": [[1]] * 4},
            "arrays differ in their number of samples",
        ),
        (
            {
                "numeric": np.zeros((4, 3)),
                "region": [["x"]] * 4,
                "tokens": [[1]] * 4,
                "y_kind": [5] * 4,
            },
            "labels 'y_kind' are not class ids 0..2 of the 'kind' output",
        ),
    ],
)
def test_samples_that_do_not_fit_the_model_are_one_line_and_exit_2(
    user_model, tmp_path, capsys, arrays, message
):
    np.savez(tmp_path / "bad.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    args = ["run", "--name", "mixed", "--models-dir", str(tmp_path / "models")]
    code = main(
        [*args, "--model", str(user_model / "mixed.keras"), "--samples", str(tmp_path / "bad.npz")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not [p for p in (tmp_path / "models").rglob("*") if p.is_file()]


@keras.saving.register_keras_serializable(package="test_any_model")
class Doubling(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_a_model_with_a_custom_layer_nobody_registered_is_one_line(tmp_path, capsys):
    inputs = keras.Input((3,), name="x")
    keras.Model(inputs, Doubling()(inputs)).save(tmp_path / "custom.keras")
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 3), np.float32))
    registered = keras.saving.get_custom_objects()
    saved = {k: registered.pop(k) for k in list(registered) if "Doubling" in k}
    try:
        code = main(
            [
                "run",
                "--models-dir",
                str(tmp_path / "m"),
                "--name",
                "c",
                "--model",
                str(tmp_path / "custom.keras"),
                "--samples",
                str(tmp_path / "s.npz"),
            ]
        )
    finally:
        registered.update(saved)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a loadable Keras model" in err, err
    assert "Doubling" in err


def test_a_model_with_a_lambda_layer_is_refused_in_one_line(tmp_path, capsys):
    inputs = keras.Input((3,), name="x")
    keras.Model(inputs, keras.layers.Lambda(lambda t: t + 1.0)(inputs)).save(tmp_path / "l.keras")
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 3), np.float32))
    code = main(
        [
            "run",
            "--models-dir",
            str(tmp_path / "m"),
            "--name",
            "l",
            "--model",
            str(tmp_path / "l.keras"),
            "--samples",
            str(tmp_path / "s.npz"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Lambda" in err, err


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    """Raw strings in: TextVectorization inside the model, as a user ships a text classifier."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    words = {0: ["good", "great", "fine"], 1: ["bad", "awful", "poor"]}
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    texts = np.array([[f"a {rng.choice(words[c])} film, {rng.choice(words[c])}!"] for c in y])
    vectorize = keras.layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    vectorize.adapt(tf.constant(texts[:, 0]))
    text = keras.Input((1,), dtype="string", name="text")
    tokens = vectorize(text)
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(40, 4)(tokens))
    model = keras.Model(text, keras.layers.Dense(2, activation="softmax", name="mood")(pooled))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(tf.constant(texts), y, epochs=10, verbose=0)
    root = tmp_path_factory.mktemp("text")
    model.save(root / "text.keras")
    np.savez(root / "samples.npz", text=texts[:60], y=y[:60])
    cfg = PipelineConfig(name="text", models_dir=root / "models", latency_runs=3)
    return stages.run(cfg, root / "text.keras", root / "samples.npz")


def test_a_text_model_reaches_the_server_and_tflite_names_its_select_ops(text_model):
    """String ops have no TFLite builtin: fp32 is converted with TF Select ops and says so, and
    LiteRT's Python wheel, which has no Flex delegate, says it cannot run it."""
    from pipeline.convert.tflite import SELECT_NOTE

    result = text_model
    assert result.published
    status = {t: o.status for t, o in result.outcomes.items()}
    assert status["savedmodel"] == VERIFIED  # strings over REST and gRPC included
    notes = {c["target"]: c["note"] for c in result.manifest["conversions"]}
    assert notes["tflite-fp32"].startswith(SELECT_NOTE) and "StringLower" in notes["tflite-fp32"]
    litert = next(r for r in result.rows if (r.target, r.runtime) == ("tflite-fp32", "litert"))
    assert not litert.supported and "Flex delegate" in litert.reason
    assert status["tflite-fp32"] == NOT_SUPPORTED
    fp16 = result.outcomes["tflite-fp16"]
    assert fp16.status == NOT_SUPPORTED and fp16.reason.startswith("needs TF Select ops (")
