"""The manifest: per artifact its path, hash, size, source version and verification rows."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from pipeline import artifacts
from pipeline.convert import Conversion
from pipeline.errors import UserError
from pipeline.layout import Layout, write_text_atomic
from pipeline.metadata import ModelInfo, utc_now
from pipeline.outcomes import VERIFIED, Outcome
from pipeline.targets import TARGETS
from pipeline.verify import Verification


def build_manifest(
    layout: Layout,
    version: int,
    info: ModelInfo,
    rows: list[Verification],
    conversions: list[Conversion],
    training: dict | None,
    timings: dict[str, float],
    gates: dict,
    results: dict[str, Outcome],
    blocked: list[Outcome],
) -> dict:
    """`passed`: nothing required is blocked, so the version is published with every target whose
    outcome is verified (`published` per artifact); the others are named with their reason."""
    entries = []
    for name, result in results.items():
        target = TARGETS[name]
        path = target.path(layout, version)
        record = artifacts.recorded(target, path) or {}
        entries.append(
            {
                "target": name,
                "path": layout.relative(path),
                "sha256": record.get("sha256", ""),
                "bytes": record.get("bytes", 0),
                "source_version": version,
                "outcome": result.status,
                "reason": result.reason,
                "published": not blocked and result.status == VERIFIED,
                "verification": [r.to_dict() for r in rows if r.target == name],
            }
        )
    return {
        "model": info.name,
        "version": version,
        "created": utc_now(),
        "source_commit": info.source_commit,
        "inputs": [asdict(t) for t in info.inputs],
        "outputs": [asdict(t) for t in info.outputs],
        "class_names": info.class_names,
        "normalization": info.normalization,
        "passed": not blocked,
        "blocked_by": [b.to_dict() for b in blocked],
        "gates": {t.name: gates.get(t.name, t.gate).describe() for t in TARGETS.values()},
        # this model's own settings (--gate), which `verify` applies again
        "gate_settings": {name: asdict(gate) for name, gate in gates.items()},
        "conversions": [c.to_dict() for c in conversions],
        "training": training,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "artifacts": entries,
    }


def write_manifest(path: Path, manifest: dict) -> None:
    write_text_atomic(path, json.dumps(manifest, indent=2) + "\n")


def read_manifest(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"no manifest at {path}: run `python -m pipeline run` first")
    return json.loads(path.read_text())


def add_rows(path: Path, target: str, rows: list[dict]) -> dict:
    """Merge verification rows from another runtime (REST, gRPC, a container) into the manifest.

    A row replaces an earlier one for the same target, runtime and `where`.
    """
    manifest = read_manifest(path)
    entry = next((a for a in manifest["artifacts"] if a["target"] == target), None)
    if entry is None:
        raise KeyError(f"no artifact {target!r} in {path}")
    keys = {(r["runtime"], r["where"]) for r in rows}
    entry["verification"] = [
        r for r in entry["verification"] if (r["runtime"], r["where"]) not in keys
    ] + rows
    write_manifest(path, manifest)
    return manifest
