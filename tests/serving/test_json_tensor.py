"""The JSON tensor codec without a server: TF Serving's float text, and the C fast paths
(serving/_jsonfloat.c) checked value for value against the general Python code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serving import _jsonfloat
from serving.errors import ServingError
from serving.json_tensor import _float_rows, _packed, debug, format_float, loads, to_array
from serving.servable import TensorSpec

FLOAT = TensorSpec("image", np.dtype(np.float32), 1, (-1, 8, 8, 1))
DOUBLE = TensorSpec("x", np.dtype(np.float64), 2, (-1, 3))


def general_rows(values: np.ndarray) -> str:
    return ", ".join("[" + ", ".join(format_float(row).tolist()) + "]" for row in values)


def test_float_outputs_are_written_as_tf_serving_writes_them():
    values = np.array([9e6, 999999, 0.5, 3e-5, 3, 1 / 3, -0.0], dtype=np.float32)
    assert format_float(values).tolist() == [
        "9e+06",
        "999999.0",
        "0.5",
        "3e-05",
        "3.0",
        "0.333333343",
        "-0.0",
    ]


def test_the_c_row_writer_writes_what_format_float_writes_on_random_rows():
    """[N, K] float32 predictions are written in C (exact 128-bit decimal rounding, snprintf
    outside its range); on random values across the whole float32 range, with NaN, infinities,
    extremes and -0, it must write what format_float writes."""
    rng = np.random.default_rng(7)
    f32 = np.finfo(np.float32)
    for trial in range(300):
        scale = 10.0 ** rng.integers(-40, 40, size=(5, 10))
        with np.errstate(over="ignore"):  # beyond float32's range: infinities, also tested
            values = (rng.standard_normal((5, 10)) * scale).astype(np.float32)
        values[0, :6] = [3, 9e6, 999999, f32.max, -f32.max, f32.tiny]
        values[1, :3] = [1 / 3, -0.0, 1e-45]
        if trial % 3 == 0:
            values[2, 4] = np.nan
        if trial % 5 == 0:
            values[3, 1] = -np.inf
        assert _float_rows(values) == general_rows(values)


def test_the_c_row_writer_on_bit_patterns_boundaries_and_ties():
    """Every 32-bit pattern is as likely as any other here (so every exponent is), then the
    places decimal rounding goes wrong first: each power of two and of ten with its neighbours,
    and values exactly halfway between two 9-digit decimals (printf rounds those to even)."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**32, size=(4000, 50), dtype=np.uint64).astype(np.uint32)
    patterns = bits.view(np.float32)
    with np.errstate(invalid="ignore"):
        assert _float_rows(patterns) == general_rows(patterns)

    powers = [2.0**i for i in range(-149, 128)] + [10.0**i for i in range(-45, 39)]
    exact = np.array(powers, dtype=np.float64).astype(np.float32)
    exact = exact[np.isfinite(exact) & (exact > 0)]
    down, up = np.nextafter(exact, np.float32(0)), np.nextafter(exact, np.float32(np.inf))
    edges = np.concatenate([exact, down, up, -exact]).reshape(-1, 1)
    assert _float_rows(edges) == general_rows(edges)

    # exactly halfway at the 9th digit: 0.1005859375 up to ...938, 0.01025390625 down to ...062
    ties = np.array([[0.1005859375, 0.01025390625, 0.001220703125, -6.103515625e-05]], "f4")
    assert _float_rows(ties) == general_rows(ties)
    assert _float_rows(ties) == "[0.100585938, 0.0102539062, 0.00122070312, -6.10351562e-05]"


def test_the_c_row_writer_takes_only_float32_matrices():
    with pytest.raises(TypeError, match=r"\[N, K\] float32"):
        _jsonfloat.rows(np.zeros((2, 3), np.float64))
    with pytest.raises(TypeError, match=r"\[N, K\] float32"):
        _jsonfloat.rows(np.zeros(3, np.float32))


@pytest.mark.parametrize(
    "value",
    [
        np.random.default_rng(3).random((2, 8, 8, 1)).tolist(),
        [[[[1]] * 8] * 8],  # ints are numbers too
        [[[[0.1], [-7], [2**40 + 1], [16777217]] * 2] * 8],  # ints among floats
        # int64 -> float32 rounds once (2^54 + 2^31); through a double it would give 2^54
        [[[[2**54 + 2**30 + 1]] * 8] * 8],
        [[[[float("nan")], [float("inf")], [-0.0], [1e-45]] * 2] * 8],
        [[[[2**70]] * 8] * 8],  # beyond int64, still a JSON number
    ],
)
def test_the_c_reader_packs_numbers_exactly_as_numpy_does(value):
    fast = _packed(value, FLOAT)
    assert fast.dtype == np.float32 and fast.flags.writeable
    expected = np.asarray(value).astype(np.float32)
    assert fast.shape == expected.shape
    assert fast.tobytes() == expected.tobytes()


def test_the_c_reader_packs_float64_and_columnar_values():
    value = [[0.1, 2, -3.5], [1e300, 5, 6]]
    assert to_array(value, DOUBLE).tobytes() == np.asarray(value, np.float64).tobytes()
    assert to_array(0.25, FLOAT).shape == ()


@pytest.mark.parametrize(
    "value",
    [
        [[[[1.0]]], [[[True]]]],  # bool is an int in Python, not a number in JSON
        [[0.5, "1"]],
        [[0.5, None]],
        [[0.5], [0.5, 0.5]],  # ragged
        [[0.5], 0.5],
        [[], []],
        [],
        [{"image": 1.0}],
        [[10**400]],  # no double holds it
    ],
)
def test_anything_but_a_full_array_of_numbers_takes_the_careful_path(value):
    assert _jsonfloat.pack(value, False) is None


def test_a_small_body_cannot_make_the_c_reader_size_a_huge_buffer():
    """The first items claim 10^6 x 10^6 x 10^6 values; the rest are single numbers. The
    buffer is sized only once every list is known to have its first item's length."""
    n = 10**6
    value = [[[0.5] * n] + [0] * (n - 1)] + [0] * (n - 1)
    assert _jsonfloat.pack(value, False) is None


def test_the_careful_path_words_a_bool_among_numbers_as_tf_serving_does():
    with pytest.raises(ServingError, match="JSON Value: true Type: True is not of expected type"):
        to_array([[0.5, True]], FLOAT)


def test_an_integer_no_double_holds_is_refused_as_tf_serving_refuses_it():
    with pytest.raises(ServingError, match="Number too big to be stored in double"):
        to_array([[0.5, 10**400]], FLOAT)


@pytest.mark.parametrize(
    "value",
    [
        {"instances": [[1.5, float("nan")], {"b64": "aGk="}], "signature_name": "x"},
        [[[]], {}, "é", None, True, 3, -0.0, 1e300],
        "just a string",
    ],
)
def test_error_messages_quote_json_as_json_dumps_writes_it(value):
    assert debug(value) == json.dumps(value)


def test_quoted_json_is_cut_at_256_characters_without_writing_the_rest():
    huge = {"instances": list(range(10**6))}
    text = debug(huge)
    assert text == json.dumps(huge)[:256] + "..."
    deep = []
    for _ in range(5000):  # deeper than json.dumps can recurse
        deep = [deep]
    assert debug(deep) == "[" * 256 + "..."


def test_a_body_nested_too_deep_for_the_parser_is_a_parse_error():
    head = '  {"x": "[[[", "instances": '  # brackets in a string are not nesting
    with pytest.raises(ServingError) as caught:
        loads((head + "[" * 100_000 + "]" * 100_000 + "}").encode())
    assert caught.value.message == (
        f"JSON Parse error: Too deeply nested at offset: {len(head) + 255}"
    )


def test_a_value_nested_past_32_lists_is_no_tensor():
    with pytest.raises(ServingError) as caught:
        to_array(json.loads("[" * 40 + "0.5" + "]" * 40), FLOAT)
    assert caught.value.message == (
        "JSON value for input 'image' is nested 40 lists deep: more than the 32 dimensions "
        "this server takes in a tensor"
    )
