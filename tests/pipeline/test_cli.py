"""The command line: good input predicts, every bad input is one line on stderr and exit 2."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.__main__ import main
from pipeline.config import ROOT


def _listing(root):
    return sorted(str(p) for p in root.rglob("*"))


def test_predict_names_the_digit_in_every_target(built, digits_png, capsys):
    cfg, _, _ = built
    path, label, _ = digits_png
    for target in ("keras", "savedmodel", "tflite-fp32", "tflite-int8", "tfjs"):
        code = main(["predict", "--models-dir", str(cfg.models_dir), "--target", target, str(path)])
        out = capsys.readouterr().out
        assert code == 0
        assert out.split(":")[0] == str(label), (target, out)


def test_predict_takes_an_npy_sample(built, digits_png, tmp_path, capsys):
    cfg, _, _ = built
    _, label, x = digits_png
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", "--models-dir", str(cfg.models_dir), str(tmp_path / "x.npy")]) == 0
    assert capsys.readouterr().out.startswith(f"{label}: ")


def _write_bad_files(tmp_path):
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 5), np.float32))
    (tmp_path / "notnpy.npy").write_text("hello")


def _bad_inputs(tmp_path, models):
    m = ["--models-dir", str(models)]
    return {
        "missing file": ["predict", *m, str(tmp_path / "nope.png")],
        "corrupt image": ["predict", *m, str(tmp_path / "corrupt.png")],
        "corrupt npy": ["predict", *m, str(tmp_path / "notnpy.npy")],
        "wrong shape": ["predict", *m, str(tmp_path / "wrong.npy")],
        "unknown target": ["predict", *m, "--target", "onnx", str(tmp_path / "corrupt.png")],
        "unknown model": ["predict", *m, "--name", "cats", str(tmp_path / "corrupt.png")],
        "bad model name": ["predict", *m, "--name", "../etc", str(tmp_path / "corrupt.png")],
        "unknown version": ["predict", *m, "--version", "99", str(tmp_path / "corrupt.png")],
        "unknown command": ["deploy"],
        "bad option": ["run", *m, "--epochs", "zero"],
        "byo without samples": ["run", *m, "--model", str(tmp_path / "x.keras")],
        "byo missing model": [
            "run",
            *m,
            "--name",
            "mine",
            "--model",
            str(tmp_path / "x.keras"),
            "--samples",
            str(tmp_path / "wrong.npy"),
        ],
        "byo corrupt model": [
            "run",
            *m,
            "--name",
            "mine",
            "--model",
            str(tmp_path / "corrupt.png"),
            "--samples",
            str(tmp_path / "wrong.npy"),
        ],
        "verify unknown model": ["verify", *m, "--name", "cats"],
        "report without manifest": ["report", *m, "--name", "cats"],
    }


ARGPARSE_CASES = ("unknown command", "bad option")


@pytest.mark.parametrize("case", list(_bad_inputs(Path("/x"), Path("/m"))))
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(built, tmp_path, capsys, case):
    cfg, _, _ = built
    _write_bad_files(tmp_path)
    argv = _bad_inputs(tmp_path, cfg.models_dir)[case]
    before = _listing(cfg.models_dir)
    if case in ARGPARSE_CASES:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "error" in err
    assert _listing(cfg.models_dir) == before


def test_no_artifacts_yet_says_what_to_run(tmp_path, capsys):
    png = tmp_path / "x.png"
    png.write_bytes(b"")
    assert main(["predict", "--models-dir", str(tmp_path / "empty"), str(png)]) == 2
    assert "make all" in capsys.readouterr().err


def test_the_real_entry_point_exits_2_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "predict", "--target", "onnx", "x.png"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown target 'onnx'; choose one of: keras, savedmodel, tflite-fp32, "
        "tflite-fp16, tflite-dynamic, tflite-int8, tfjs, tfjs-uint8"
    ]


@pytest.mark.parametrize(
    "command", ["run", "train", "export", "convert", "verify", "report", "predict"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--name" in capsys.readouterr().out
