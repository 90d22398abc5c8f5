"""Targets as files: the metadata.json that describes each artifact, its hash and its size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipeline.metadata import METADATA_FILE, ModelInfo, sha256_of, size_of
from pipeline.targets import Target


def digest(target: Target, path: Path) -> str:
    return sha256_of(path, recursive=not target.nested)


def describe(target: Target, path: Path, info: ModelInfo, **extra) -> dict:
    """Record an artifact's hash and size in its metadata.json (merging with its neighbours)."""
    meta_file = target.metadata_file(path)
    doc = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    doc.update(info.to_dict())
    entry = {
        "file": path.name if path.is_file() else ".",
        "sha256": digest(target, path),
        "bytes": size_of(path),
        **extra,
    }
    doc.setdefault("artifacts", {})[target.name] = entry
    meta_file.parent.mkdir(parents=True, exist_ok=True)
    meta_file.write_text(json.dumps(doc, indent=2) + "\n")
    if info.class_names and target.labels_beside:
        (path.parent / "labels.txt").write_text("\n".join(info.class_names) + "\n")
    return entry


def recorded(target: Target, path: Path) -> dict | None:
    """What metadata.json says about an artifact when it was built, or None."""
    meta_file = target.metadata_file(path)
    if not meta_file.is_file():
        return None
    return json.loads(meta_file.read_text()).get("artifacts", {}).get(target.name)


def withdraw(target: Target, path: Path) -> None:
    """Take an artifact that will not be published out of a staging tree, with its record.

    A nested target's directory keeps its subfolders (the other targets inside it).
    """
    if path.is_file():
        path.unlink()
    elif path.is_dir():
        for item in path.iterdir():
            if item.is_file() and item.name != METADATA_FILE:
                item.unlink()
            elif item.is_dir() and not target.nested:
                shutil.rmtree(item)
    meta_file = target.metadata_file(path)
    if not meta_file.is_file():
        return
    doc = json.loads(meta_file.read_text())
    doc.get("artifacts", {}).pop(target.name, None)
    if doc.get("artifacts"):
        meta_file.write_text(json.dumps(doc, indent=2) + "\n")
        return
    meta_file.unlink()  # nothing of this folder is published: no labels for no model either
    if target.labels_beside:
        (meta_file.parent / "labels.txt").unlink(missing_ok=True)
