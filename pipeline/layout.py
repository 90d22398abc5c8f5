"""Where each artifact lives under models/, and how a staged run is published atomically.

Every writer builds in a private staging tree (`staging`) and moves finished groups into view
with `publish`: a reader, TF Serving's poller among them, never sees a half-written artifact.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """The docs/design.md layout for one model name under one models/ root."""

    root: Path
    name: str

    @property
    def serving_root(self) -> Path:
        return self.root / "serving"

    @property
    def serving_base(self) -> Path:  # a TF Serving model_base_path
        return self.serving_root / self.name

    def version_dir(self, version: int) -> Path:
        return self.serving_base / str(version)

    @property
    def keras_dir(self) -> Path:
        return self.group_dir("keras")

    @property
    def keras_model(self) -> Path:
        return self.keras_dir / "model.keras"

    @property
    def golden_dir(self) -> Path:
        return self.group_dir("golden")

    @property
    def tflite_dir(self) -> Path:
        return self.group_dir("tflite")

    @property
    def tfjs_dir(self) -> Path:
        return self.group_dir("tfjs")

    @property
    def reports_dir(self) -> Path:
        return self.group_dir("reports")

    @property
    def manifest(self) -> Path:
        return self.reports_dir / "manifest.json"

    @property
    def logs_dir(self) -> Path:
        return self.group_dir("logs")

    @property
    def checkpoints_dir(self) -> Path:  # a multi-worker job's, while it trains
        return self.root / ".checkpoints" / self.name

    def group_dir(self, group: str) -> Path:
        """One of GROUPS: the folder a runtime mounts or a reader reads as a whole."""
        return self.root / group / self.name

    def versions(self) -> list[int]:
        """Published SavedModel versions, ascending (TF Serving ignores non-integer names)."""
        if not self.serving_base.is_dir():
            return []
        return sorted(
            int(p.name) for p in self.serving_base.iterdir() if re.fullmatch(r"\d+", p.name)
        )

    def latest_version(self) -> int | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def fsync_tree(path: Path) -> None:
    """Flush every file and directory below `path` to disk before it is renamed into view."""
    for dirpath, _, filenames in os.walk(path):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# The folders a run replaces as a whole, each in one rename; SavedModel versions are added instead.
GROUPS = ("keras", "golden", "tflite", "tfjs", "reports")


@contextlib.contextmanager
def staging(models_dir: Path, name: str, on_wait=None) -> Iterator[Layout]:
    """A private layout under models/.staging/<name>/ for one writer, removed when it ends.

    The writer holds the model name's lock for the whole block (see `name_lock`), so runs of one
    name take turns and whatever an earlier, killed writer left behind is finished or removed
    first. It is on the same filesystem as models/, so publishing is a rename; its name keeps it
    out of TF Serving's sight (a model_base_path is models/serving/<name>).
    """
    with name_lock(models_dir, name, on_wait):
        recover(models_dir, name)
        root = models_dir / ".staging" / name / uuid.uuid4().hex[:8]
        root.mkdir(parents=True)
        try:
            yield Layout(root, name)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            with contextlib.suppress(OSError):  # empty now: nobody else stages this name
                root.parent.rmdir()


@contextlib.contextmanager
def name_lock(models_dir: Path, name: str, on_wait=None) -> Iterator[None]:
    """An exclusive lock on one model name under models/.locks/, held until the block ends.

    flock(2): the kernel releases it when its process dies, however it dies, so a killed run
    never leaves a stale lock. The file names the holder; a second writer calls
    `on_wait(holder)` once, then waits its turn.
    """
    import fcntl

    path = models_dir / ".locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another run")
            fcntl.flock(fd, fcntl.LOCK_EX)
        holder = f"pid {os.getpid()} on {os.uname().nodename} since {_now()}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


JOURNAL = ".publishing.json"  # in a staging tree while it is being moved into models/


def recover(models_dir: Path, name: str) -> None:
    """Finish what a killed writer of `name` left: a publish it had begun is completed (every
    gate had passed; only renames were left), and every other leftover is removed. Call it
    holding the name's lock."""
    import json

    staged = models_dir / ".staging" / name
    for root in sorted(staged.iterdir()) if staged.is_dir() else []:
        journal = root / JOURNAL
        if journal.is_file():
            plan = json.loads(journal.read_text())
            with contextlib.suppress(FileExistsError):  # a version is renamed whole or not at all
                _publish_steps(Layout(root, name), Layout(models_dir, name), plan)
        shutil.rmtree(root, ignore_errors=True)
    serving_base = Layout(models_dir, name).serving_base
    for leftover in serving_base.glob(".tmp-delete-*") if serving_base.is_dir() else []:
        shutil.rmtree(leftover, ignore_errors=True)
    for group in GROUPS:
        for leftover in (models_dir / group).glob(f".old-{name}-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def publish(
    stage: Layout, dest: Layout, groups: Iterable[str] = GROUPS, version: int | None = None
) -> None:
    """Move what a staging tree built into models/: the new SavedModel version first (it never
    replaces one), then each group that was built, each swapped in whole.

    A journal in the staging tree lists the steps first: if the process dies between two
    renames, the next writer of the name finishes them (`recover`), so models/ ends with the
    whole new version, never half of it.
    """
    import json

    built = [g for g in groups if stage.group_dir(g).exists()]
    # a group swapped in leaves the previous contents at its staging path: its inode tells them
    # apart from a group still to publish
    plan = {"version": version, "groups": {g: stage.group_dir(g).stat().st_ino for g in built}}
    write_text_atomic(stage.root / JOURNAL, json.dumps(plan))
    _publish_steps(stage, dest, plan)
    (stage.root / JOURNAL).unlink()


def _publish_steps(stage: Layout, dest: Layout, plan: dict) -> None:
    """Each step of a plan that is still to do (a step done is gone from the staging tree)."""
    version = plan.get("version")
    staged = None if version is None else stage.version_dir(version)
    if staged is not None and staged.exists():
        publish_new(staged, dest.version_dir(version))  # refuses to overwrite a version
    for group, inode in plan["groups"].items():
        built = stage.group_dir(group)
        if built.exists() and built.stat().st_ino == inode:
            publish_replace(built, dest.group_dir(group))


def publish_new(built: Path, final: Path) -> None:
    """Rename a finished directory into place; `final` must not exist (versions are immutable)."""
    fsync_tree(built)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(f"{final} already exists; versions are never overwritten")
    os.rename(built, final)
    _fsync_dir(final.parent)


_RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths atomically


def publish_replace(built: Path, final: Path) -> None:
    """Put a finished directory at `final`, swapping out any previous one in a single step."""
    fsync_tree(built)
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.rename(built, final)
    elif not _exchange(built, final):
        old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)  # fallback: a brief moment with no `final`, never a partial one
        os.rename(built, final)
        built = old
    shutil.rmtree(built, ignore_errors=True)  # now holds the previous contents
    _fsync_dir(final.parent)


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new contents, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
