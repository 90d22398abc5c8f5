"""Per-target outcomes: each target ends verified, not supported, or having missed its gate.

A version is published when the reference and the SavedModel are verified and every target the
user required is; the other targets that did not make it are left out of it and named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from pipeline.convert import Conversion
from pipeline.verify import Verification

VERIFIED, NOT_SUPPORTED, MISSED_GATE = "verified", "not supported", "missed gate"
ALWAYS_REQUIRED = ("keras", "savedmodel")  # what every consumer, the server first, stands on


@dataclass(frozen=True)
class Outcome:
    target: str
    status: str  # VERIFIED, NOT_SUPPORTED or MISSED_GATE
    reason: str = ""  # the converter's or runtime's own words, or the figures that missed

    def to_dict(self) -> dict:
        return asdict(self)


def outcome(target: str, conversion: Conversion | None, rows: list[Verification]) -> Outcome:
    """How one target ended, from its conversion and its verification rows.

    Rows of an advisory runtime (tflite-runtime 2.14) report but never decide.
    """
    if conversion is not None and not conversion.ok:
        return Outcome(target, NOT_SUPPORTED, conversion.reason)
    deciding = [r for r in rows if r.gating]
    if not deciding:
        return Outcome(target, NOT_SUPPORTED, "no runtime verified it")
    unsupported = [r for r in deciding if not r.supported]
    if unsupported:
        return Outcome(target, NOT_SUPPORTED, unsupported[0].reason)
    missed = [r for r in deciding if not r.passed]
    if missed:
        return Outcome(target, MISSED_GATE, "; ".join(f"{r.runtime}: {r.reason}" for r in missed))
    return Outcome(target, VERIFIED)


def outcomes(conversions: list[Conversion], rows: list[Verification]) -> dict[str, Outcome]:
    """Every target of a run, in table order: the reference, the SavedModel, each conversion."""
    by_target = {c.target: c for c in conversions}
    names = [*ALWAYS_REQUIRED, *by_target]
    return {n: outcome(n, by_target.get(n), [r for r in rows if r.target == n]) for n in names}


def blocking(results: dict[str, Outcome], required: Iterable[str]) -> list[Outcome]:
    """The required targets that were not verified: any of them keeps the version unpublished."""
    must = dict.fromkeys([*ALWAYS_REQUIRED, *required])
    return [results[t] for t in must if t in results and results[t].status != VERIFIED] + [
        Outcome(t, NOT_SUPPORTED, "not converted in this run") for t in must if t not in results
    ]
