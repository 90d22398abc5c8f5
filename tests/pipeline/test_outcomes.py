"""Per-target outcomes: verified, not supported or missed gate; required targets decide."""

from pipeline.convert import Conversion
from pipeline.outcomes import MISSED_GATE, NOT_SUPPORTED, VERIFIED, blocking, outcomes
from pipeline.verify import Verification


def row(target, runtime, **kw) -> Verification:
    return Verification(target, runtime, **{"passed": True, **kw})


ROWS = [
    row("keras", "keras"),
    row("savedmodel", "tf-signature"),
    row("tflite-fp32", "litert"),
    row("tflite-fp32", "tflite-runtime", passed=False, gating=False, supported=False, reason="old"),
    row("tflite-int8", "litert", passed=False, reason="top-1 agreement 80.0% < 97%"),
    row("tfjs", "tfjs-node", passed=False, supported=False, reason="tfjs-node could not run it: x"),
]
CONVERSIONS = [
    Conversion("tflite-fp32", True),
    Conversion("tflite-int8", True),
    Conversion("tfjs", True),
    Conversion("tfjs-uint8", False, "Unsupported Ops in the model: Exit"),
]


def test_each_target_gets_one_of_three_outcomes_with_its_reason():
    results = outcomes(CONVERSIONS, ROWS)
    got = {t: (o.status, o.reason) for t, o in results.items()}
    assert got == {
        "keras": (VERIFIED, ""),
        "savedmodel": (VERIFIED, ""),
        "tflite-fp32": (VERIFIED, ""),  # the advisory runtime reports, never decides
        "tflite-int8": (MISSED_GATE, "litert: top-1 agreement 80.0% < 97%"),
        "tfjs": (NOT_SUPPORTED, "tfjs-node could not run it: x"),
        "tfjs-uint8": (NOT_SUPPORTED, "Unsupported Ops in the model: Exit"),
    }


def test_only_the_reference_and_the_savedmodel_are_required_by_default():
    assert blocking(outcomes(CONVERSIONS, ROWS), required=()) == []


def test_a_required_target_that_was_not_verified_blocks_the_version():
    blocked = blocking(outcomes(CONVERSIONS, ROWS), required=("tflite-int8", "tflite-fp32"))
    assert [(b.target, b.status) for b in blocked] == [("tflite-int8", MISSED_GATE)]


def test_a_savedmodel_that_misses_its_gate_always_blocks():
    rows = [*ROWS[:1], row("savedmodel", "rest", passed=False, reason="max|Δ| 0.1 > 0.0001")]
    blocked = blocking(outcomes(CONVERSIONS, rows), required=())
    assert [(b.target, b.status) for b in blocked] == [("savedmodel", MISSED_GATE)]
