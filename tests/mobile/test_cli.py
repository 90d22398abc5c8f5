"""`python -m mobile`: predict, bench and inspect work; every bad input is one line and exit 2."""

import json

import numpy as np
import pytest

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
