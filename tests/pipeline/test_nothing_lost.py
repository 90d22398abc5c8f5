"""Nothing lost, nothing half-done: runs at once and runs killed at any moment.

Runs of one model name take turns on its lock (released by the kernel however a run dies), so
versions never collide; a run killed mid-publish is finished by the next one; the server polling
the folder only ever sees complete versions.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from pipeline.layout import JOURNAL, Layout
from tests.pipeline.conftest import start_run


def assert_complete(models: Path, name: str) -> list[int]:
    """Every published version is whole, and the groups describe the newest one."""
    layout = Layout(models, name)
    versions = layout.versions()
    for version in versions:
        folder = layout.version_dir(version)
        meta = json.loads((folder / "assets.extra" / "metadata.json").read_text())
        assert meta["version"] == version, folder
        assert (folder / "saved_model.pb").is_file() and (folder / "variables").is_dir()
    # a run killed between its renames leaves its journal: until the next run of the name
    # finishes them, the groups may still be the previous version's (each one whole)
    pending = list((models / ".staging").glob(f"{name}/*/{JOURNAL}"))
    described = versions[-2:] if pending else versions[-1:]
    if versions:
        manifest = json.loads(layout.manifest.read_text())
        keras_meta = json.loads((layout.keras_dir / "metadata.json").read_text())
        assert manifest["version"] in described and keras_meta["version"] in described
    assert not list(layout.serving_base.glob(".tmp-*")) if layout.serving_base.is_dir() else True
    return versions


def test_runs_of_one_name_at_once_take_turns_and_each_publishes_its_own_version(
    small_model, tmp_path
):
    """Two runs of one name and one of another, started together: all succeed, versions 1 and
    2 each carry their own number, and models.config names both models once."""
    models = tmp_path / "models"
    runs = [start_run(small_model, models, "small") for _ in range(2)]
    runs.append(start_run(small_model, models, "other"))
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    assert sum("waiting" in err for _, err in outputs[:2]) == 1  # the other said why it waited
    assert assert_complete(models, "small") == [1, 2]
    assert assert_complete(models, "other") == [1]
    config = (models / "serving" / "models.config").read_text()
    assert config.count('name: "small"') == 1 and config.count('name: "other"') == 1
    assert not list((models / ".staging").iterdir())


def _status(server) -> list[dict]:
    with urllib.request.urlopen(f"{server.rest_url}/v1/models/small", timeout=10) as r:
        return json.loads(r.read())["model_version_status"]


# Where a run is killed: at the start of each stage, inside conversion and verification, and
# while its journal says it is publishing (the renames into models/).
KILL_AFTER = [
    ("▶ export", 0.0),
    ("▶ convert", 1.0),
    ("▶ verify", 2.0),
    ("▶ report", 0.0),
    (JOURNAL, 0.0),
]


def test_a_run_killed_at_any_stage_leaves_models_whole_and_the_next_run_cleans_up(
    small_model, tmp_path
):
    from serving.process import ServerProcess

    models = tmp_path / "models"
    first = start_run(small_model, models, "small")
    assert first.wait(timeout=600) == 0
    layout = Layout(models, "small")
    flags = [
        "--model_name=small",
        f"--model_base_path={layout.serving_base}",
        "--file_system_poll_wait_seconds=1",
    ]
    killed_in_publish = False
    with ServerProcess(flags, log=tmp_path / "server.log") as server:
        for marker, delay in KILL_AFTER:
            run = start_run(small_model, models, "small")
            killed_in_publish |= _kill_after(run, marker, delay, models)
            versions = assert_complete(models, "small")
            time.sleep(1.5)  # a poll of the server
            states = _status(server)
            assert all(s["status"]["error_code"] == "OK" for s in states), states
            assert {int(s["version"]) for s in states if s["state"] == "AVAILABLE"} <= set(versions)
        last = start_run(small_model, models, "small")
        _out, err = last.communicate(timeout=600)
        assert last.returncode == 0, err[-2000:]
        versions = assert_complete(models, "small")
        time.sleep(2.5)
        available = [int(s["version"]) for s in _status(server) if s["state"] == "AVAILABLE"]
        assert available == [versions[-1]]
    assert not (models / ".staging").exists() or not list((models / ".staging").iterdir())
    if killed_in_publish:  # the next run finished its renames, then added its own version
        assert len(versions) >= 3, versions


def _kill_after(run: subprocess.Popen, marker: str, delay: float, models: Path) -> bool:
    """SIGKILL `run` `delay` s after `marker` appears on its stderr (or, for the journal, in its
    staging tree). Returns whether it died while publishing."""
    deadline = time.monotonic() + 600
    if marker == JOURNAL:
        while time.monotonic() < deadline and run.poll() is None:
            if list((models / ".staging").glob(f"*/*/{JOURNAL}")):
                run.send_signal(signal.SIGKILL)
                run.wait()
                return True
            time.sleep(0.005)
        return False
    for line in run.stderr:
        if marker in line:
            break
    time.sleep(delay)
    run.send_signal(signal.SIGKILL)
    run.wait()
    return False
