import shutil

import numpy as np
import pytest

from pipeline import artifacts
from pipeline.convert import ConvertContext
from pipeline.data import read_golden
from pipeline.layout import Layout
from pipeline.metadata import ModelInfo
from pipeline.runtimes import RUNTIMES
from pipeline.targets import TARGETS, in_family
from pipeline.verify import verify_artifact

EVERY_TARGET = list(TARGETS)


def _rows(result, target):
    return [r for r in result.rows if r.target == target]


@pytest.mark.parametrize("target", EVERY_TARGET)
def test_every_artifact_loads_in_its_runtime_and_passes_its_gate(built, target):
    _, result, _ = built
    rows = _rows(result, target)
    assert rows, f"{target} was not verified"
    for row in rows:
        if not row.gating:  # an advisory runtime too old for the file: tests/mobile/test_check.py
            continue
        assert row.passed, row.reason
        assert row.p50_ms > 0 and row.bytes > 0
        assert row.top1_agreement >= 0.97 and row.accuracy >= 0.95


def test_float_artifacts_reproduce_keras_and_quantized_ones_keep_its_decisions(built):
    _, result, _ = built
    diff = {r.target: r.max_abs_diff for r in result.rows}
    assert diff["tflite-fp32"] <= 1e-4 and diff["tfjs"] <= 1e-4 and diff["savedmodel"] <= 1e-5
    assert diff["tflite-fp16"] <= 1e-2
    assert diff["tflite-int8"] > diff["tflite-fp32"]  # it really is quantized


def test_int8_model_has_int8_io_and_agrees_with_reference(built):
    from ai_edge_litert.interpreter import Interpreter

    _, _, layout = built
    path = TARGETS["tflite-int8"].path(layout)
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    assert runner.get_input_details()["image"]["dtype"] == np.int8
    assert runner.get_output_details()["probabilities"]["dtype"] == np.int8
    sizes = {t.name: t.path(layout).stat().st_size for t in in_family("tflite")}
    assert sizes["tflite-int8"] <= 0.3 * sizes["tflite-fp32"]
    assert (layout.tflite_dir / "labels.txt").read_text().split() == [str(i) for i in range(10)]


def _copy(layout: Layout, tmp_path) -> Layout:
    dest = Layout(tmp_path / "models", layout.name)
    for group in ("tflite_dir", "golden_dir", "keras_dir"):
        shutil.copytree(getattr(layout, group), getattr(dest, group))
    return dest


def test_a_tampered_artifact_fails_verification(built, tmp_path):
    _, _, layout = built
    dest = _copy(layout, tmp_path)
    info = ModelInfo.read(dest.keras_dir / "metadata.json")
    golden = read_golden(dest.golden_dir)
    target = TARGETS["tflite-fp32"]
    path = target.path(dest)

    def check():
        return verify_artifact(target, path, RUNTIMES["litert"], info, golden, target.gate, 3)

    assert check().passed
    data = bytearray(path.read_bytes())
    # flip bytes in the largest run of float weights, past the flatbuffer header
    start = len(data) // 2
    data[start : start + 4096] = bytes(255 - b for b in data[start : start + 4096])
    path.write_bytes(bytes(data))

    row = check()
    assert not row.passed and "sha256" in row.reason

    artifacts.describe(target, path, info)  # re-recorded: only the numbers can tell now
    row = check()
    assert not row.passed
    assert "max|Δ|" in row.reason or "could not run" in row.reason


def test_a_target_that_cannot_convert_is_reported_not_raised(built, tmp_path):
    _, _, layout = built
    info = ModelInfo.read(layout.keras_dir / "metadata.json")
    ctx = ConvertContext(tmp_path / "no-such-savedmodel", info, np.zeros((1, 8, 8, 1)))
    target = TARGETS["tflite-fp32"]
    result = target.converter.run(target.name, ctx, target.path(Layout(tmp_path, "x")))
    assert not result.ok and "no SavedModel" in result.reason
    assert not (tmp_path / "tflite").exists()


def test_manifest_has_the_contract_fields(built):
    _, result, layout = built
    manifest = result.manifest
    for key in ("model", "version", "created", "source_commit", "artifacts"):
        assert key in manifest
    by_target = {a["target"]: a for a in manifest["artifacts"]}
    assert set(EVERY_TARGET) <= set(by_target)
    assert manifest["passed"] and manifest["blocked_by"] == []
    assert {(a["outcome"], a["published"]) for a in by_target.values()} == {("verified", True)}
    int8 = by_target["tflite-int8"]
    assert int8["path"] == "tflite/digits/int8.tflite" and len(int8["sha256"]) == 64
    row = int8["verification"][0]
    for key in (
        "runtime",
        "where",
        "accuracy",
        "top1_agreement",
        "max_abs_diff",
        "p50_ms",
        "passed",
        "reason",
    ):
        assert key in row
    assert (layout.reports_dir / "report.html").is_file()
    for png in ("training.png", "confusion.png", "targets.png"):
        assert (layout.reports_dir / png).stat().st_size > 5000
    html = (layout.reports_dir / "report.html").read_text()
    assert "PASSED" in html and "tflite-int8" in html and "lines of code" in html


def test_both_trainers_reach_the_accuracy_bar(built):
    _, result, _ = built
    trainers = result.manifest["training"]["trainers"]
    assert set(trainers) == {"keras", "tf"}
    for summary in trainers.values():
        assert summary["test_accuracy"] >= 0.97
        assert summary["lines_of_code"] > 10
    assert trainers["tf"]["lines_of_code"] > trainers["keras"]["lines_of_code"]
