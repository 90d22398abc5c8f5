"""Gates hold for any output: ties in the reference, logits, regression values."""

import numpy as np
import pytest

from pipeline.config import EXACT, QUANTIZED
from pipeline.data import Golden
from pipeline.verify import score_output


def golden(reference, labels=None) -> tuple:
    return np.asarray(reference, dtype=np.float32), labels


def score(outputs, reference_and_labels, gate):
    reference, labels = reference_and_labels
    return score_output(np.asarray(outputs, np.float32), reference, labels, gate)


# 100 samples: 90 decisive (class 0 far ahead), 10 where the reference's top two are nearly tied
DECISIVE = [[0.8, 0.1, 0.1]] * 90
TIED = [[0.495, 0.505, 0.0]] * 10


def test_a_quantized_model_that_flips_only_tied_samples_passes():
    flipped = np.array(DECISIVE + [[0.51, 0.49, 0.0]] * 10, np.float32)  # picks the runner-up
    metrics, failures = score(flipped, golden(DECISIVE + TIED), QUANTIZED)
    assert failures == []
    assert metrics["top1_agreement"] == 1.0 and metrics["ties"] == 10


def test_a_quantized_model_that_really_disagrees_still_fails():
    wrong = np.array([[0.1, 0.1, 0.8]] * 10 + DECISIVE[:80] + [[0.51, 0.49, 0.0]] * 10, np.float32)
    metrics, failures = score(wrong, golden(DECISIVE + TIED), QUANTIZED)
    assert metrics["top1_agreement"] == pytest.approx(0.9)
    assert failures == ["top-1 agreement 90.0% < 97% (10 tied references count either class)"]


def test_a_tied_sample_answered_with_a_third_class_disagrees():
    third = np.array(DECISIVE + [[0.0, 0.0, 1.0]] * 10, np.float32)
    metrics, _ = score(third, golden(DECISIVE + TIED), QUANTIZED)
    assert metrics["top1_agreement"] == pytest.approx(0.9)


def test_logits_are_tied_by_their_softmax_not_their_raw_gap():
    # a 0.01 gap between logits is a tie (probabilities 0.4975 / 0.5025); 3.0 is not
    logits = [[2.0, 2.01, -5.0]] * 5 + [[5.0, 2.0, -5.0]] * 5
    answer = np.array([[2.02, 2.0, -5.0]] * 5 + [[2.0, 5.0, -5.0]] * 5, np.float32)
    metrics, _ = score(answer, golden(logits), QUANTIZED)
    assert metrics["ties"] == 5 and metrics["top1_agreement"] == 0.5


def test_regression_outputs_are_gated_on_their_range_when_quantized():
    reference = np.linspace(0.0, 1000.0, 50, dtype=np.float32)[:, None]
    close = reference + 20.0  # 2% of the range
    far = reference.copy()
    far[7] += 80.0  # 8% of the range
    assert score(close, golden(reference), QUANTIZED)[1] == []
    metrics, failures = score(far, golden(reference), QUANTIZED)
    assert metrics["regression_error"] == pytest.approx(0.08)
    assert failures == ["regression |Δ| 8.0% of the range > 5%"]


def test_the_exact_gate_scales_with_large_outputs_and_stays_absolute_for_probabilities():
    prices = np.array([[250_000.0], [410_000.0]], np.float32)
    assert score(prices + 1.0, golden(prices), EXACT)[1] == []  # 4e-6 of the scale
    assert score(prices + 100.0, golden(prices), EXACT)[1] != []
    probabilities = np.array(DECISIVE[:3], np.float32)
    assert score(probabilities + 2e-4, golden(probabilities), EXACT)[1] != []


def test_accuracy_drop_is_measured_against_the_reference_accuracy():
    labels = np.array([0] * 90 + [1] * 10)
    worse = np.array(DECISIVE[:85] + [[0.1, 0.8, 0.1]] * 5 + [[0.51, 0.49, 0.0]] * 10, np.float32)
    metrics, failures = score(worse, golden(DECISIVE + TIED, labels), QUANTIZED)
    assert metrics["reference_accuracy"] == 1.0 and metrics["accuracy"] == pytest.approx(0.85)
    assert "accuracy 15.0 pts below Keras" in failures


def test_each_output_is_gated_on_its_own_and_failures_name_it():
    """Two outputs: a class output whose answers agree and a regression output that drifts; the
    row keeps the worst figures and the failure names the output that missed."""
    from pipeline.verify import score as score_all

    classes = np.array(DECISIVE + TIED, np.float32)
    values = np.linspace(0.0, 10.0, 100, dtype=np.float32)[:, None]
    drifted = values.copy()
    drifted[3] += 1.0  # 10% of the range
    golden_set = Golden(
        inputs={"x": np.zeros((100, 1), np.float32)},
        labels={"species": np.zeros(100, np.int64)},
        reference={"species": classes, "size": values},
    )
    metrics, failures = score_all({"species": classes, "size": drifted}, golden_set, QUANTIZED)
    assert failures == ["size: regression |Δ| 10.0% of the range > 5%"]
    assert metrics["top1_agreement"] == 1.0 and metrics["accuracy"] == pytest.approx(0.9)
    assert metrics["max_abs_diff"] == pytest.approx(1.0)
    _, failures = score_all({"species": classes}, golden_set, QUANTIZED)
    assert failures == ["no output 'size' (got ['species'])"]
