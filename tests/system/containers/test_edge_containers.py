"""The TFLite variants in the edge images (no TensorFlow inside), on the golden set, with gates.

Each run adds a "(container)" row per variant and runtime to the manifest of the test's pipeline
run, so the verification table shows the edge images beside the host runtimes.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data import read_golden
from pipeline.manifest import add_rows, read_manifest
from pipeline.targets import in_family
from pipeline.verify import score_output
from tests.system.containers.conftest import image

EDGE_IMAGES = {"edge-litert": "litert", "edge-tflite214": "tflite-runtime"}
# tflite-runtime stopped at 2.14: the dynamic-range model's FULLY_CONNECTED v12 is newer.
TOO_NEW_FOR_2_14 = {"tflite-dynamic"}


def run_in_container(engine, tag, runtime, model_dir, work, variant):
    """python -m mobile.npz_runner inside the image; returns (exit code, stderr text)."""
    container = engine.containers.run(
        tag,
        entrypoint=["python", "-m", "mobile.npz_runner"],
        command=[
            f"/models/{variant}.tflite",
            "/work/in.npz",
            f"/work/{variant}.npz",
            "--runtime",
            runtime,
            "--latency-runs",
            "50",
        ],
        volumes={
            str(model_dir): {"bind": "/models", "mode": "ro"},
            str(work): {"bind": "/work", "mode": "rw"},
        },
        network_disabled=True,
        detach=True,
    )
    try:
        code = container.wait(timeout=300)["StatusCode"]
        return code, container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("tag", sorted(EDGE_IMAGES))
def test_edge_images_run_every_variant_and_pass_the_gates(engine, built, tmp_path, tag):
    _, result, layout = built
    image(engine, tag)
    runtime = EDGE_IMAGES[tag]
    golden = read_golden(layout.golden_dir).single()
    work = tmp_path / "work"
    work.mkdir(mode=0o777)
    work.chmod(0o777)  # the image runs as an unprivileged user
    np.savez(work / "in.npz", image=golden.x)
    manifest_path = layout.reports_dir / "manifest.json"
    for target in in_family("tflite"):
        path = target.path(layout, result.version)
        variant = path.stem
        code, stderr = run_in_container(engine, tag, runtime, path.parent, work, variant)
        row = {
            "runtime": runtime,
            "where": f"{tag} (container)",
            "accuracy": None,
            "top1_agreement": None,
            "max_abs_diff": None,
            "p50_ms": None,
            "passed": False,
            "reason": "",
        }
        if runtime == "tflite-runtime" and target.name in TOO_NEW_FOR_2_14:
            assert code == 1, stderr
            assert "FULLY_CONNECTED" in stderr  # the runtime's own reason
            row["reason"] = stderr.strip().splitlines()[-1]
        else:
            assert code == 0, stderr
            with np.load(work / f"{variant}.npz") as out:
                outputs, p50 = out["probabilities"].astype(np.float32), float(out["p50_ms"])
            metrics, failures = score_output(outputs, golden.reference, golden.labels, target.gate)
            assert failures == [], (tag, variant, failures)
            row.update(metrics, p50_ms=p50, passed=True)
        add_rows(manifest_path, target.name, [row])
    rows = [
        r
        for a in read_manifest(manifest_path)["artifacts"]
        for r in a["verification"]
        if r["where"] == f"{tag} (container)"
    ]
    assert len(rows) == len(in_family("tflite"))


@pytest.mark.parametrize("tag", sorted(EDGE_IMAGES))
def test_edge_images_hold_no_tensorflow_and_run_as_non_root(engine, tag):
    image(engine, tag)
    out = (
        engine.containers.run(
            tag,
            entrypoint=["python", "-c"],
            command=[
                "import importlib.util as u, os; print(u.find_spec('tensorflow') is None, os.getuid())"
            ],
            remove=True,
            network_disabled=True,
        )
        .decode()
        .split()
    )
    assert out[0] == "True" and out[1] != "0"
