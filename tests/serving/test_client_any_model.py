"""`python -m serving.client` on any model: an .npz of named inputs (floats and strings) over REST
and gRPC, every output printed by name; the digits model's --npy and --image still work."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from serving.client import main
from tests.two_inputs import export_two_input_model, samples


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A model base path with version 1 of the two-input model."""
    root = tmp_path_factory.mktemp("any-model") / "wine"
    export_two_input_model(root / "1")
    return root


@pytest.fixture(scope="module")
def expected(base) -> dict[str, np.ndarray]:
    """serving_default called in this process: what the client must print."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
    x = samples()
    outputs = signature(numeric=tf.constant(x["numeric"]), region=tf.constant(x["region"]))
    got = {name: value.numpy() for name, value in outputs.items()}
    assert sorted(got) == ["alcohol", "cultivar"]
    assert len(set(got["cultivar"].argmax(axis=1).tolist())) > 1, got  # rows that differ
    return got


def parse(out: str) -> dict[str, np.ndarray]:
    """The printed outputs back as arrays: `name:` sections, a line per sample `i: ...`, each
    either ranked classes (`class score, ...`) or values."""
    sections: dict[str, list[str]] = {}
    name = ""
    for line in out.splitlines():
        if re.fullmatch(r"\w+:", line):
            name = line[:-1]
        else:
            sections.setdefault(name, []).append(line.split(": ", 1)[1])
    parsed = {}
    for name, lines in sections.items():
        rows = []
        for line in lines:
            if "," in line:  # top classes: put each score back in its column
                ranked = [pair.split() for pair in line.split(", ")]
                row = np.zeros(len(ranked))
                for cls, score in ranked:
                    row[int(cls)] = float(score)
                rows.append(row)
            else:
                rows.append([float(v) for v in line.split()])
        parsed[name] = np.array(rows)
    return parsed


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_npz_over_rest_and_grpc_prints_each_output_as_the_signature_computes_it(
    start_server, base, expected, tmp_path, capsys
):
    np.savez(tmp_path / "in.npz", **samples())
    server = start_server(["--model_name=wine", f"--model_base_path={base}"])
    for protocol, port in (("rest", server.rest_port), ("grpc", server.grpc_port)):
        code, out, err = run(
            capsys, protocol, "--model=wine", "--host=127.0.0.1", f"--port={port}",
            "--npz", tmp_path / "in.npz",
        )  # fmt: skip
        assert code == 0, err
        assert out.splitlines()[0] == "alcohol:" and "cultivar:" in out.splitlines()
        got = parse(out)
        assert sorted(got) == ["alcohol", "cultivar"]
        for name, want in expected.items():
            assert got[name].shape == want.shape, (protocol, name, out)
            np.testing.assert_allclose(got[name], want, atol=1e-4, err_msg=f"{protocol} {name}")


def test_a_missing_input_array_or_file_is_one_error_line(start_server, base, tmp_path, capsys):
    np.savez(tmp_path / "numeric-only.npz", numeric=samples()["numeric"])
    np.save(tmp_path / "numeric.npy", samples()["numeric"])
    server = start_server(["--model_name=wine", f"--model_base_path={base}"])
    for protocol, port in (("rest", server.rest_port), ("grpc", server.grpc_port)):
        cases = {
            "missing array": (["--npz", tmp_path / "numeric-only.npz"], "no array 'region'"),
            "missing file": (["--npz", tmp_path / "nope.npz"], "file not found"),
            "npy for two inputs": (["--npy", tmp_path / "numeric.npy"], "numeric, region"),
            "unknown model": (["--model=nope", "--npz", tmp_path / "numeric-only.npz"], "nope"),
        }
        for case, (args, words) in cases.items():
            code, out, err = run(
                capsys, protocol, "--model=wine", "--host=127.0.0.1", f"--port={port}", *args
            )
            assert code != 0 and out == "", (protocol, case, out)
            assert len(err.splitlines()) == 1 and "Traceback" not in err, (protocol, case, err)
            assert err.startswith("python -m serving.client: error: "), (protocol, case, err)
            assert words in err, (protocol, case, err)


def test_the_digits_model_still_takes_an_npy_and_an_image(
    server, golden, signature_outputs, drawn_digit, tmp_path, capsys
):
    """--npy finds the signature's only input from the model's metadata, over gRPC too."""
    np.save(tmp_path / "batch.npy", golden.x[:4])
    (tmp_path / "labels.txt").write_text("".join(f"{i}\n" for i in range(10)))  # parse() reads ints
    png, png_expected = drawn_digit
    for protocol, port in (("rest", server.rest_port), ("grpc", server.grpc_port)):
        common = [protocol, "--model=digits", "--host=127.0.0.1", f"--port={port}", "--top=10"]
        common.append(f"--labels={tmp_path / 'labels.txt'}")
        code, out, err = run(capsys, *common, "--npy", tmp_path / "batch.npy")
        assert code == 0, err
        np.testing.assert_allclose(parse(out)[""], signature_outputs[:4], atol=1e-4)
        code, out, err = run(capsys, *common, "--image", png)
        assert code == 0, err
        np.testing.assert_allclose(parse(out)[""], png_expected[None], atol=1e-4)
