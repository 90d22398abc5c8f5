"""A full disk during a pipeline run: one clear line, exit 1, and models/ exactly as it was.

The models directory is a tmpfs of its own (mounting needs root, as make test has), resized so that the
second run runs out of room at different points; a run with room again publishes version 2.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.pipeline.conftest import start_run

# Room left for the second run, over what the first one used: about 0.1, 0.4 and 0.7 of a run.
ROOMS_KIB = (32, 128, 224)
DISK_FULL = (
    "no space left on the device{}; the run stopped, its staged files were removed and nothing "
    "was published"
)


def tree(models: Path) -> dict[str, str]:
    """Every file's content hash, except the run's own scratch (locks, empty staging folders)."""
    files = {}
    for path in sorted(models.rglob("*")):
        rel = path.relative_to(models)
        if path.is_file() and rel.parts[0] != ".locks":
            files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def used_kib(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


@pytest.fixture
def disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def resize(mount: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(mount)], check=True)


def test_a_full_disk_stops_the_run_with_one_line_and_leaves_models_as_it_was(small_model, disk):
    models = disk / "models"
    first = start_run(small_model, models, "small")
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    before = tree(models)
    assert "serving/small/1/saved_model.pb" in before

    for room in ROOMS_KIB:
        resize(disk, used_kib(disk) + room)
        run = start_run(small_model, models, "small")
        _, err = run.communicate(timeout=600)
        lines = err.strip().splitlines()
        assert run.returncode == 1, err[-2000:]
        assert "Traceback" not in err, err[-2000:]
        assert lines[-1].startswith("error: no space left on the device"), lines[-1]
        assert lines[-1].endswith(DISK_FULL.format("")[-60:]), lines[-1]
        assert tree(models) == before, f"with {room} KiB of room"
        assert not [p for p in (models / ".staging").rglob("*") if p.is_file()]

    resize(disk, 8192)
    run = start_run(small_model, models, "small")
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-2000:]
    assert sorted(p.name for p in (models / "serving" / "small").iterdir()) == ["1", "2"]
