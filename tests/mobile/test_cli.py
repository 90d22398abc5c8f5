"""`python -m mobile`: predict, bench and inspect work; every bad input is one line and exit 2."""

import json

import numpy as np
import pytest

from mobile.envs import ROOT
from tests.two_inputs import export_two_input_model, samples

from .cli import TFLITE214_PYTHON, one_line_error, run_cli


def test_predict_names_the_digit_from_a_png_and_from_an_npy_batch(built, digits_png, tmp_path):
    path, label, x = digits_png
    tflite = built[2].tflite_dir
    for variant in ("fp32", "int8"):
        proc = run_cli("predict", tflite / f"{variant}.tflite", path)
        assert proc.returncode == 0, proc.stderr
        first = proc.stdout.splitlines()[0]
        assert first.split(":")[0] == str(label) and len(first.split()) == 6  # top 3 by default

    np.save(tmp_path / "batch.npy", np.stack([x, x]))
    proc = run_cli("predict", tflite / "int8.tflite", tmp_path / "batch.npy", "--top", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"[0] {label}: {proc.stdout.split()[2]}",
        f"[1] {label}: {proc.stdout.split()[2]}",
    ]


@pytest.fixture(scope="module")
def two_input_tflite(tmp_path_factory):
    """The serving client tests' model (`numeric` floats and `region` strings in; `cultivar`
    classes and `alcohol` out), converted from its SavedModel by TFLite's converter, to builtin
    ops: StringLookup's table becomes HASHTABLE ops."""
    import tensorflow as tf

    out = tmp_path_factory.mktemp("two-input")
    saved = export_two_input_model(out / "savedmodel")
    tflite = out / "model.tflite"
    tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert())
    return tflite


def parse_predict(out: str) -> dict[str, np.ndarray]:
    """`predict`'s output back as arrays: `name:` sections, lines `[i] class: score  ...` (top
    classes, each score put back in its column) or `[i] value ...`."""
    rows: dict[str, list] = {}
    name = ""
    for line in out.splitlines():
        if line.endswith(":") and " " not in line:
            name = line[:-1]
            continue
        fields = line.split("] ", 1)[-1].split("  ")
        if ": " in fields[0]:
            row = np.zeros(len(fields))
            for pair in fields:
                k, score = pair.split(": ")
                row[int(k)] = float(score)
        else:
            row = np.array([float(v) for v in fields[0].split()])
        rows.setdefault(name, []).append(row)
    return {k: np.array(v) for k, v in rows.items()}


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")  # the reference here
def test_predict_takes_an_npz_of_named_inputs_and_prints_every_output(
    two_input_tflite, runtime, tmp_path
):
    import tensorflow as tf

    x = samples()
    np.savez(tmp_path / "in.npz", **x)
    proc = run_cli("predict", two_input_tflite, tmp_path / "in.npz", "--runtime", runtime)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "alcohol:" and "cultivar:" in proc.stdout.splitlines()
    runner = tf.lite.Interpreter(model_path=str(two_input_tflite)).get_signature_runner()
    want = runner(numeric=x["numeric"], region=np.char.encode(x["region"], "utf-8"))
    assert len(set(want["cultivar"].argmax(axis=1).tolist())) > 1, want  # rows that differ
    got = parse_predict(proc.stdout)
    assert sorted(got) == ["alcohol", "cultivar"]
    for name in got:
        assert got[name].shape == want[name].shape, (name, proc.stdout)
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, err_msg=name)


def test_a_model_with_several_inputs_refuses_an_image_or_npy_naming_its_inputs(
    two_input_tflite, tmp_path
):
    np.save(tmp_path / "numeric.npy", np.zeros((2, 3), np.float32))
    for given in (ROOT / "mobile" / "examples" / "three.png", tmp_path / "numeric.npy"):
        line = one_line_error(run_cli("predict", two_input_tflite, given))
        assert "2 inputs (numeric, region)" in line and ".npz" in line, line
    np.savez(tmp_path / "no-region.npz", numeric=np.zeros((2, 3), np.float32))
    line = one_line_error(run_cli("predict", two_input_tflite, tmp_path / "no-region.npz"))
    assert "no array 'region'" in line, line


def test_bench_reports_percentiles_and_throughput_like_benchmark_model(built):
    model = built[2].tflite_dir / "int8.tflite"
    proc = run_cli("bench", model, "--runs", "30", "--warmup", "3", "--batch", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["runtime"] == "litert" and r["batch"] == 4 and r["runs"] == 30 and r["threads"] == 1
    assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
    assert r["throughput"] > 0 and r["init_ms"] > 0 and r["first_ms"] > 0

    proc = run_cli("bench", model, "--runs", "20", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    for word in ("p50", "p90", "p99", "throughput", "samples/s", "2 thread(s)", "litert"):
        assert word in proc.stdout


def test_inspect_lists_signatures_quantization_and_operator_versions(built):
    from ai_edge_litert.interpreter import Interpreter

    model = built[2].tflite_dir / "int8.tflite"
    proc = run_cli("inspect", model)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "signature serving_default" in out
    assert "input  image" in out and "output probabilities" in out
    assert "int8" in out and "zero point -128" in out and "bytes" in out
    assert "FULLY_CONNECTED" in out and " v" in out

    doc = json.loads(run_cli("inspect", model, "--json").stdout)
    assert doc["bytes"] == model.stat().st_size
    ops = {o["name"] for o in doc["operators"]}
    runtime_ops = {o["op_name"] for o in Interpreter(model_path=str(model))._get_ops_details()}
    assert ops == runtime_ops
    assert all(o["version"] >= 1 for o in doc["operators"])
    image = doc["signatures"]["serving_default"]["inputs"][0]
    assert image["dtype"] == "int8" and len(image["scales"]) == 1

    # the same file read in the tflite-runtime environment, through the `tflite` package's schema
    other = json.loads(run_cli("inspect", model, "--json", python=TFLITE214_PYTHON).stdout)
    assert other["operators"] == doc["operators"]


def _bad_inputs(built, tmp_path):
    fp32 = built[2].tflite_dir / "fp32.tflite"
    data = fp32.read_bytes()
    (tmp_path / "truncated.tflite").write_bytes(data[: len(data) // 3])
    (tmp_path / "header-only.tflite").write_bytes(data[:64])
    (tmp_path / "other.tflite").write_bytes(b"PK\x03\x04 a zip file, say" * 10)
    (tmp_path / "empty.tflite").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 5), np.float32))
    np.save(tmp_path / "ok.npy", np.zeros((8, 8, 1), np.float32))
    t, ok = tmp_path, tmp_path / "ok.npy"
    return {
        "missing model": ["predict", t / "nope.tflite", ok],
        "truncated model": ["predict", t / "truncated.tflite", ok],
        "header-only model": ["inspect", t / "header-only.tflite"],
        "not a tflite file": ["predict", t / "other.tflite", ok],
        "empty file": ["bench", t / "empty.tflite"],
        "wrong-shape npy": ["predict", fp32, t / "wrong.npy"],
        "missing input": ["predict", fp32, t / "nope.npy"],
        "corrupt image": ["predict", fp32, t / "corrupt.png"],
        "check truncated in litert": ["check", t / "truncated.tflite", "--runtime", "litert"],
        "check truncated in tflite-runtime": [
            "check",
            t / "truncated.tflite",
            "--runtime",
            "tflite-runtime",
        ],
        "predict truncated in tflite-runtime": [
            "predict",
            t / "truncated.tflite",
            ok,
            "--runtime",
            "tflite-runtime",
        ],
        "bad option": ["bench", fp32, "--runs", "0"],
        "unknown runtime": ["check", fp32, "--runtime", "onnx"],
        "unknown command": ["deploy"],
    }


def test_every_bad_input_is_one_clear_line_and_exit_2(built, tmp_path):
    for case, args in _bad_inputs(built, tmp_path).items():
        line = one_line_error(run_cli(*args))
        assert "error" in line, (case, line)
        if "truncated" in case or "header-only" in case:
            assert "truncated or corrupt TFLite file" in line, (case, line)
        if case in ("not a tflite file", "empty file"):
            assert "not a TFLite model" in line, (case, line)


def test_a_truncated_model_is_refused_before_tflite_runtime_can_crash_on_it(built, tmp_path):
    """tflite-runtime 2.14 dies with SIGSEGV on a truncated flatbuffer; mobile never hands it one."""
    data = (built[2].tflite_dir / "int8.tflite").read_bytes()
    for cut in (100, 2000, len(data) // 2, len(data) - 16):
        (tmp_path / "cut.tflite").write_bytes(data[:cut])
        proc = run_cli("inspect", tmp_path / "cut.tflite", python=TFLITE214_PYTHON)
        assert "truncated or corrupt" in one_line_error(proc), cut


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_a_missing_runtime_environment_is_one_line_naming_make_setup(built, runtime):
    env = {"MOBILE_TFLITE_RUNTIME_PYTHON": "/nonexistent/python"}
    proc = run_cli("check", built[2].tflite_dir / "fp32.tflite", "--runtime", runtime, env=env)
    if runtime == "litert":  # installed here: the variable does not matter
        assert proc.returncode == 0, proc.stderr
    else:
        assert "make setup" in one_line_error(proc)
