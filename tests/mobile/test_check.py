"""`check`: decided by running the model in the runtime, reported with the runtime's own reason."""

import numpy as np
import pytest

from mobile.check import check
from pipeline.targets import in_family

from .cli import one_line_error, run_cli

VARIANTS = [t.name.removeprefix("tflite-") for t in in_family("tflite")]  # fp32, fp16, …


@pytest.fixture(scope="module")
def flex_model(tmp_path_factory):
    """A tiny model whose only op (Erf) has no TFLite builtin: converted as a Flex op."""
    import tensorflow as tf

    class Erf(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.math.erf(x)}

    module = Erf()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.serve.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    path = tmp_path_factory.mktemp("flex") / "erf.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_a_model_needing_flex_ops_is_reported_as_such(flex_model, runtime):
    proc = run_cli("check", flex_model, "--runtime", runtime)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "CANNOT RUN IT" in out
    assert "needs Flex (Select TensorFlow) ops: FlexErf" in out
    assert "Select TensorFlow op(s)" in out  # the runtime's own words
    assert ("envs/tflite214" in out) == (runtime == "tflite-runtime")

    result = check(flex_model, runtime)
    assert not result.ok and result.flex_ops == ["FlexErf"]
    assert "Flex delegate" in result.reason


def test_inspect_marks_flex_ops(flex_model):
    proc = run_cli("inspect", flex_model)
    assert proc.returncode == 0, proc.stderr
    assert "FlexErf" in proc.stdout and "Select TensorFlow op" in proc.stdout


def test_predict_on_a_model_the_runtime_cannot_run_is_one_line_exit_1(flex_model, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    line = one_line_error(run_cli("predict", flex_model, tmp_path / "x.npy"), code=1)
    assert "litert cannot run" in line and "Flex" in line


def test_fp32_runs_in_tflite_runtime_in_its_environment(built):
    proc = run_cli("check", built[2].tflite_dir / "fp32.tflite", "--runtime", "tflite-runtime")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tflite-runtime 2.14.0, in envs/tflite214" in proc.stdout and "runs it" in proc.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_gets_a_tflite_runtime_row_that_agrees_with_check(built, variant):
    """One verification row per variant and runtime; a runtime too old for a file says why."""
    _, result, layout = built
    rows = {r.runtime: r for r in result.rows if r.target == f"tflite-{variant}"}
    assert set(rows) == {"litert", "tflite-runtime"}
    assert rows["litert"].passed and rows["litert"].gating

    verdict = check(layout.tflite_dir / f"{variant}.tflite", "tflite-runtime")
    assert verdict.where == "envs/tflite214" and verdict.runtime_version == "2.14.0"
    row = rows["tflite-runtime"]
    if verdict.ok:
        assert row.passed, row.reason
        assert row.top1_agreement >= 0.97 and row.p50_ms > 0
    else:  # recorded as not passed, with the runtime's reason, and it does not block publishing
        assert not row.passed and not row.gating
        assert verdict.reason.splitlines()[0] in row.reason
    assert result.published
    assert variant != "fp32" or verdict.ok  # the plain float model always runs in 2.14


def test_the_report_says_not_supported_rather_than_fail_for_an_advisory_runtime(built):
    from pipeline.report import table_rows

    _, result, _ = built
    for row in table_rows(result.manifest):
        if row[1] == "tflite-runtime":
            assert row[-1] == "pass" or row[-1].startswith("not supported (does not gate)")
