"""The edge runtime: the contract's signature, any batch size, threads, and never TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest

from mobile import TfliteModel, flatbuffer
from mobile.envs import ROOT
from pipeline.config import INPUT_NAME, OUTPUT_NAME, SERVING_SIGNATURE
from pipeline.targets import in_family

from .cli import TFLITE214_PYTHON

VARIANTS = [t.name.removeprefix("tflite-") for t in in_family("tflite")]  # fp32, fp16, …


@pytest.mark.parametrize("variant", VARIANTS)
def test_signature_input_and_output_names_match_the_contract(built, variant):
    path = built[2].tflite_dir / f"{variant}.tflite"
    model = TfliteModel(path, "litert")
    assert model.signature == SERVING_SIGNATURE
    assert list(model.inputs) == [INPUT_NAME] and list(model.outputs) == [OUTPUT_NAME]
    assert model.input.shape == (-1, 8, 8, 1) and model.output.shape == (-1, 10)
    # the flatbuffer says the same without a runtime
    sides = flatbuffer.read(path).signatures[SERVING_SIGNATURE]
    assert [t.name for t in sides["inputs"]] == [INPUT_NAME]
    assert [t.name for t in sides["outputs"]] == [OUTPUT_NAME]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_any_batch_size_gives_the_answers_of_one_sample_at_a_time(built, variant):
    from pipeline.data import read_golden

    x = read_golden(built[2].golden_dir).single().x[:40]
    model = TfliteModel(built[2].tflite_dir / f"{variant}.tflite", "litert")
    one_by_one = np.concatenate([model(x[i : i + 1]) for i in range(len(x))])
    for batch in (7, 32, 40, 1):  # growing, then shrinking back: the input is resized each time
        batched = np.concatenate([model(x[i : i + batch]) for i in range(0, len(x), batch)])
        np.testing.assert_allclose(batched, one_by_one, atol=1e-6)


def test_thread_count_is_taken_and_does_not_change_the_answers(built):
    from pipeline.data import read_golden

    x = read_golden(built[2].golden_dir).single().x
    path = built[2].tflite_dir / "fp32.tflite"
    np.testing.assert_allclose(TfliteModel(path, threads=2)(x), TfliteModel(path)(x), atol=1e-6)


def test_the_edge_runtime_never_imports_tensorflow(built, digits_png):
    """Every mobile module, and a prediction from a PNG."""
    path, label, _ = digits_png
    model = built[2].tflite_dir / "int8.tflite"
    script = f"""
import pkgutil, sys, importlib
import mobile
for m in pkgutil.iter_modules(mobile.__path__):
    importlib.import_module("mobile." + m.name)
from mobile.__main__ import main
assert main(["predict", {str(model)!r}, {str(path)!r}]) == 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "pipeline"))
assert not heavy, heavy
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(":")[0] == str(label)


def test_tflite_runtime_really_runs_in_its_own_environment_without_tensorflow(built, digits_png):
    path, label, _ = digits_png
    model = built[2].tflite_dir / "int8.tflite"
    script = (
        "import importlib.util, sys, numpy, tflite_runtime;"
        "assert importlib.util.find_spec('tensorflow') is None;"
        "assert importlib.util.find_spec('ai_edge_litert') is None;"
        "print(tflite_runtime.__version__, numpy.__version__)"
    )
    proc = subprocess.run([str(TFLITE214_PYTHON), "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    runtime_version, numpy_version = proc.stdout.split()
    assert runtime_version == "2.14.0" and numpy_version.startswith("1.")

    from .cli import run_cli

    proc = run_cli("predict", model, path, python=TFLITE214_PYTHON)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(":")[0] == str(label)
    # from the main environment, --runtime tflite-runtime runs the same command over there
    proc = run_cli("predict", model, path, "--runtime", "tflite-runtime")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(":")[0] == str(label)
