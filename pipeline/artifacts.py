"""Targets as files: where each artifact lives, and the metadata.json that describes it."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.layout import Layout
from pipeline.metadata import METADATA_FILE, ModelInfo, sha256_of, size_of


def artifact_path(layout: Layout, target: str, version: int | None) -> Path:
    if target == "keras":
        return layout.keras_model
    if target == "savedmodel":
        if version is None:
            raise ValueError("the savedmodel target needs a version")
        return layout.version_dir(version)
    if target.startswith("tflite-"):
        return layout.tflite_dir / f"{target.removeprefix('tflite-')}.tflite"
    if target.startswith("tfjs"):
        return layout.tfjs_variant_dir(target)
    raise ValueError(f"unknown target {target!r}")


def metadata_path(target: str, path: Path) -> Path:
    """The metadata.json beside (or, for directories, inside) an artifact."""
    if target == "savedmodel":
        return path / "assets.extra" / METADATA_FILE
    return (path if path.is_dir() else path.parent) / METADATA_FILE


def digest(target: str, path: Path) -> str:
    # a TF.js variant sits in a subfolder of the base model's folder: hash only the top level
    return sha256_of(path, recursive=not target.startswith("tfjs"))


def describe(target: str, path: Path, info: ModelInfo, **extra) -> dict:
    """Record an artifact's hash and size in its metadata.json (merging with its neighbours)."""
    meta_file = metadata_path(target, path)
    doc = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    doc.update(info.to_dict())
    entry = {
        "file": path.name if path.is_file() else ".",
        "sha256": digest(target, path),
        "bytes": size_of(path),
        **extra,
    }
    doc.setdefault("artifacts", {})[target] = entry
    meta_file.parent.mkdir(parents=True, exist_ok=True)
    meta_file.write_text(json.dumps(doc, indent=2) + "\n")
    if info.class_names and target.startswith("tflite-"):
        (path.parent / "labels.txt").write_text("\n".join(info.class_names) + "\n")
    return entry


def recorded(target: str, path: Path) -> dict | None:
    """What metadata.json says about an artifact when it was built, or None."""
    meta_file = metadata_path(target, path)
    if not meta_file.is_file():
        return None
    return json.loads(meta_file.read_text()).get("artifacts", {}).get(target)
