"""`python -m mobile inspect`: what a .tflite file says about itself, read without running it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from mobile import flatbuffer
from mobile.errors import BadInput


def read(path: Path) -> flatbuffer.ModelFile:
    model_file = flatbuffer.read(Path(path))
    if model_file is None:
        raise BadInput("reading a model's operators needs ai-edge-litert or the tflite package")
    return model_file


def to_dict(model_file: flatbuffer.ModelFile) -> dict:
    doc = asdict(model_file)
    doc["path"] = str(model_file.path)
    doc["flex_ops"], doc["custom_ops"] = model_file.flex_ops, model_file.custom_ops
    return doc


def render(m: flatbuffer.ModelFile) -> str:
    needs = f", needs runtime ≥ {m.min_runtime_version}" if m.min_runtime_version else ""
    lines = [
        f"{m.path}: {m.bytes:,} bytes ({m.bytes / 1024:.1f} KB; weights {m.weight_bytes:,} bytes), "
        f"schema v{m.schema_version}{needs}",
    ]
    if m.description:
        lines.append(f"description: {m.description}")
    for key, sides in m.signatures.items():
        lines.append(f"signature {key}")
        for side in ("inputs", "outputs"):
            for t in sides[side]:
                shape = "[" + ", ".join("N" if d == -1 else str(d) for d in t.shape) + "]"
                lines.append(
                    f"  {side[:-1]:<6} {t.name:<20} {t.dtype:<8} {shape:<16} {t.quantization}"
                )
    if not m.signatures:
        lines.append("no signatures (the runtimes' signature runners cannot call it by name)")
    nodes = sum(o.count for o in m.operators)
    lines.append(f"operators: {len(m.operators)} kinds, {nodes} nodes")
    for op in m.operators:
        kind = "" if op.builtin else "  (custom)"
        if op.name in m.flex_ops:
            kind = "  (Flex: a Select TensorFlow op)"
        lines.append(f"  {op.name:<28} v{op.version:<3} x{op.count}{kind}")
    return "\n".join(lines)
