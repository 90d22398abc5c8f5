"""Targets as files: the metadata.json that describes each artifact, its hash and its size."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.metadata import ModelInfo, sha256_of, size_of
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
