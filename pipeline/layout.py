"""Where each artifact lives under models/, and how a finished directory is published atomically."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """The DESIGN.md layout for one model name under one models/ root."""

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
        return self.root / "keras" / self.name

    @property
    def keras_model(self) -> Path:
        return self.keras_dir / "model.keras"

    @property
    def golden_dir(self) -> Path:
        return self.root / "golden" / self.name

    @property
    def tflite_dir(self) -> Path:
        return self.root / "tflite" / self.name

    @property
    def tfjs_dir(self) -> Path:
        return self.root / "tfjs" / self.name

    def tfjs_variant_dir(self, target: str) -> Path:
        """`tfjs` is models/tfjs/<name>; a variant such as `tfjs-uint8` lives in a subfolder."""
        return self.tfjs_dir if target == "tfjs" else self.tfjs_dir / target.removeprefix("tfjs-")

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports" / self.name

    @property
    def manifest(self) -> Path:
        return self.reports_dir / "manifest.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs" / self.name

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


@contextlib.contextmanager
def building(final: Path) -> Iterator[Path]:
    """A scratch directory beside `final` (same filesystem, hidden from TF Serving by its name).

    It is removed if the body fails, so an interrupted build leaves nothing that looks published.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


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
