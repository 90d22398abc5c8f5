"""Version policies and the disk rules, in-process: what gets loaded, kept and unloaded."""

from __future__ import annotations

import logging
import shutil
import weakref

import pytest

from serving.config import ModelSpec
from serving.manager import ModelManager, State


@pytest.fixture
def base(repo, tmp_path):
    path = tmp_path / "digits"
    path.mkdir()
    return path


def add(repo, base, version):
    scratch = base.parent / f".scratch-{version}"
    shutil.copytree(repo.source, scratch)
    scratch.rename(base / str(version))


def available(manager, name="digits"):
    return manager.models[name].available()


def test_a_new_version_loads_only_once_its_files_stay_the_same_for_two_polls(repo, base):
    add(repo, base, 1)
    manager = ModelManager(warmup=False)
    manager.configure([ModelSpec("digits", base)], first=True)
    assert available(manager) == [1]
    add(repo, base, 2)
    manager.sync()  # seen once: could still be being copied in
    assert available(manager) == [1]
    manager.sync()  # unchanged since: settled, loaded, and version 1 gives way
    assert available(manager) == [2]
    assert manager.models["digits"].versions[1].state == State.END


def test_an_unloaded_version_is_freed_at_once(repo, base):
    """Its graph and session sit in reference cycles: the manager never freezes a version out of
    the collector's reach and collects when it unloads one (bench-soak found ~3 MiB a version
    kept while each load was frozen)."""
    add(repo, base, 1)
    manager = ModelManager(warmup=False)
    manager.configure([ModelSpec("digits", base)], first=True)
    servable = weakref.ref(manager.models["digits"].versions[1].servable)
    graph = weakref.ref(servable()._graph)
    add(repo, base, 2)
    manager.sync()
    manager.sync()
    assert available(manager) == [2]
    assert servable() is None and graph() is None


def test_loading_a_version_or_a_model_never_changes_a_dict_a_request_is_reading(repo, base):
    """Requests iterate the versions (the latest) and the models (readiness) on the event loop
    while the loader thread loads: the dicts they hold must not change size under them.
    bench-soak met it as an HTTP 500, "dictionary changed size during iteration"."""
    add(repo, base, 1)
    manager = ModelManager(warmup=False)
    manager.configure([ModelSpec("digits", base)], first=True)
    versions = iter(manager.models["digits"].versions.values())
    models = iter(manager.models)
    add(repo, base, 2)
    manager.sync()
    manager.sync()
    other = base.parent / "other"
    other.mkdir()
    add(repo, other, 1)
    manager.configure([ModelSpec("digits", base), ModelSpec("other", other)])
    assert available(manager) == [2] and available(manager, "other") == [1]
    assert [entry.version for entry in versions] == [1]  # what the request started with
    assert list(models) == ["digits"]


def test_policies_all_and_specific(repo, base):
    for v in (1, 2, 3):
        add(repo, base, v)
    manager = ModelManager(warmup=False)
    manager.configure([ModelSpec("digits", base, policy="all")], first=True)
    assert available(manager) == [1, 2, 3]
    manager.configure([ModelSpec("digits", base, policy="specific", versions=(1, 3))])
    assert available(manager) == [1, 3]
    manager.configure([ModelSpec("digits", base, policy="latest", num_versions=2)])
    assert available(manager) == [2, 3]


def test_a_failed_version_is_retried_only_when_its_files_change(repo, base):
    add(repo, base, 1)
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"broken")
    manager = ModelManager(warmup=False)
    manager.configure([ModelSpec("digits", base)], first=True)
    assert available(manager) == [1]  # the newest non-failed version serves
    assert manager.models["digits"].versions[2].error is not None
    shutil.rmtree(base / "2")
    shutil.copytree(repo.source, base.parent / ".fixed")
    (base.parent / ".fixed").rename(base / "2")
    manager.sync()
    manager.sync()
    assert available(manager) == [2]


def test_a_base_path_that_cannot_be_listed_changes_nothing_and_is_said_once(repo, base, caplog):
    """A volume gone or unreadable (as the container's user) keeps the loaded versions serving;
    the log says so once, and once more when the base path can be listed again."""
    caplog.set_level(logging.INFO, "serving")
    add(repo, base, 1)
    manager = ModelManager(warmup=False)
    manager.configure([ModelSpec("digits", base)], first=True)
    moved = base.parent / "elsewhere"
    base.rename(moved)  # what an unreadable or unmounted volume looks like to the poll
    for _ in range(3):
        manager.sync()
    assert available(manager) == [1]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        f"model digits: cannot list the base path {base}: No such file or directory; "
        "versions [1] go on serving"
    ]
    moved.rename(base)
    add(repo, base, 2)
    manager.sync()
    manager.sync()
    assert available(manager) == [2]
    assert f"model digits: the base path {base} can be listed again" in caplog.text
