"""The targets: one table of what each artifact is, how it is made, where it lives, how it is checked.

Adding a target is one entry here, plus its converter (pipeline/convert/) and, when no existing
runtime can run it, a runtime (pipeline/runtimes/). Everything else reads this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import EXACT, HALF_PRECISION, QUANTIZED, Gate
from pipeline.convert import Converter, TfjsConverter, TfliteConverter
from pipeline.layout import Layout
from pipeline.metadata import METADATA_FILE


@dataclass(frozen=True)
class Target:
    name: str
    family: str  # the models/ folder it is published with: keras, serving, tflite or tfjs
    locate: Callable[[Layout, int | None], Path]  # its file or directory in a layout
    runtimes: tuple[str, ...]  # pipeline.runtimes names; `predict` uses the first
    gate: Gate  # the default; PipelineConfig.gates overrides it per target
    converter: Converter | None = None  # None: written by the export stage, not converted
    metadata_dir: str = ""  # where its metadata.json sits, inside the artifact's directory
    nested: bool = False  # other targets' artifacts sit in subfolders: hash only the top level
    labels_beside: bool = False  # write labels.txt beside the file, for the edge runtime

    def path(self, layout: Layout, version: int | None = None) -> Path:
        return self.locate(layout, version)

    def metadata_file(self, path: Path) -> Path:
        """The metadata.json beside (or, for directories, inside) the artifact at `path`."""
        folder = path if path.is_dir() else path.parent
        return folder / self.metadata_dir / METADATA_FILE


def _version_dir(layout: Layout, version: int | None) -> Path:
    if version is None:
        raise ValueError("the savedmodel target needs a version")
    return layout.version_dir(version)


def _tflite(variant: str, gate: Gate) -> Target:
    return Target(
        f"tflite-{variant}",
        "tflite",
        lambda layout, _: layout.tflite_dir / f"{variant}.tflite",
        ("litert", "tflite-runtime"),
        gate,
        TfliteConverter(variant),
        labels_beside=True,
    )


_ALL = (
    Target("keras", "keras", lambda layout, _: layout.keras_model, ("keras",), EXACT),
    Target(
        "savedmodel",
        "serving",
        _version_dir,
        ("tf-signature", "rest", "grpc"),
        EXACT,
        metadata_dir="assets.extra",  # TF Serving's place for files beside a SavedModel
    ),
    _tflite("fp32", EXACT),
    _tflite("fp16", HALF_PRECISION),
    _tflite("dynamic", QUANTIZED),
    _tflite("int8", QUANTIZED),
    Target(
        "tfjs",
        "tfjs",
        lambda layout, _: layout.tfjs_dir,
        ("tfjs-node",),
        EXACT,
        TfjsConverter(),
        nested=True,
    ),
    # uint8 weights: a quarter of the download
    Target(
        "tfjs-uint8",
        "tfjs",
        lambda layout, _: layout.tfjs_dir / "uint8",
        ("tfjs-node",),
        QUANTIZED,
        TfjsConverter(quantize="uint8"),
    ),
)

TARGETS: dict[str, Target] = {t.name: t for t in _ALL}


def converted() -> list[Target]:
    """The targets a conversion makes, in table order (read at call time, so tests can swap one)."""
    return [t for t in TARGETS.values() if t.converter is not None]


def in_family(family: str) -> tuple[Target, ...]:
    """The targets published with one models/ folder, in table order (e.g. every TFLite variant)."""
    return tuple(t for t in _ALL if t.family == family)
