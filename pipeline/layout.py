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
def staging(models_dir: Path, name: str) -> Iterator[Layout]:
    """A private layout under models/.staging/ for one writer, removed when the block ends.

    It is on the same filesystem as models/, so publishing is a rename; its name keeps it out of
    TF Serving's sight (a model_base_path is models/serving/<name>).
    """
    root = models_dir / ".staging" / f"{name}-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    try:
        yield Layout(root, name)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def publish(
    stage: Layout, dest: Layout, groups: Iterable[str] = GROUPS, version: int | None = None
) -> None:
    """Move what a staging tree built into models/: the new SavedModel version first (it never
    replaces one), then each group that was built, each swapped in whole."""
    if version is not None:
        publish_new(stage.version_dir(version), dest.version_dir(version))
    for group in groups:
        built = stage.group_dir(group)
        if built.exists():
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
