"""bench-soak's pure parts: windows, percentiles, answer checks, the config it writes, the log it reads.

Fast: no TensorFlow, no server, no soak run. python -m pytest tests/bench -q
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.soak import POLICIES, LogTail, model_config
from bench.soak_load import check_answer
from bench.soak_report import Memory, percentile, windows
from serving.config import read_model_config_file


def line(at: float, rest=(), grpc=(), errors=None) -> dict:
    return {
        "at": at,
        "rest": list(rest),
        "grpc": list(grpc),
        "errors": errors or {},
        "versions": {},
    }


def test_windows_put_lines_samples_and_events_where_their_time_falls():
    rows = windows(
        [line(0.5, rest=[1.0, 2.0]), line(10.0, grpc=[3.0], errors={"rest": 1}), line(19.9)],
        rss=[(0.0, 700.0), (12.0, 710.0)],
        events=[(3.0, "published"), (13.0, "published"), (13.0, "removed")],
        width=10,
        seconds=20,
    )
    assert [(w.start, w.end) for w in rows] == [(0, 10), (10, 20)]
    assert (rows[0].rest, rows[0].grpc, rows[0].errors, rows[0].requests) == ([1.0, 2.0], [], 0, 2)
    assert (rows[1].rest, rows[1].grpc, rows[1].errors, rows[1].requests) == ([], [3.0], 1, 2)
    assert (rows[0].rss, rows[1].rss) == ([700.0], [710.0])
    assert rows[0].events == {"published": 1}
    assert rows[1].events == {"published": 1, "removed": 1}


def test_windows_keep_what_falls_outside_the_run_in_its_first_and_last_rows():
    rows = windows(
        [line(-0.2, rest=[1.0]), line(25.3, rest=[2.0])], [], [(25.0, "reloaded")], 10, 25
    )
    assert [(w.start, w.end) for w in rows] == [(0, 10), (10, 20), (20, 25)]
    assert (rows[0].rest, rows[2].rest, rows[2].events["reloaded"]) == ([1.0], [2.0], 1)


def test_percentile_is_the_nearest_rank_and_none_without_values():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50,
        99,
        100,
    )
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) is None


def test_memory_compares_the_first_window_after_warm_up_with_the_last():
    samples = [(t, 500.0 if t < 10 else 700.0 + t) for t in range(30)]
    rows = windows([], samples, [], 10, 30)
    memory = Memory.of(rows, samples)
    assert (memory.start, memory.end, memory.peak) == (714.5, 724.5, 729.0)
    assert memory.growth == 10.0
    assert memory.slope == pytest.approx(60.0)  # 1 MiB a second, warm-up left out


def test_an_answer_must_match_the_reference_in_shape_and_within_the_tolerance():
    reference = np.array([[0.1, 0.9]])
    assert check_answer([[0.1, 0.9]], reference, 1e-4) is None
    assert check_answer([[0.10005, 0.89995]], reference, 1e-4) is None
    assert "max |diff| 0.1" in check_answer([[0.2, 0.8]], reference, 1e-4)
    assert "shape [2]" in check_answer([0.1, 0.9], reference, 1e-4)
    assert check_answer([[float("nan"), 0.9]], reference, 1e-4) == "not finite"
    assert "not numbers" in check_answer([["a", "b"]], reference, 1e-4)


@pytest.mark.parametrize("policy", POLICIES)
def test_the_config_the_soak_writes_is_one_the_server_reads(tmp_path, policy):
    path = tmp_path / "models.config"
    path.write_text(model_config("digits", tmp_path / "digits", policy))
    (spec,) = read_model_config_file(path)
    assert (spec.name, spec.base_path) == ("digits", tmp_path / "digits")
    assert spec.policy == policy.split()[0]
    assert spec.num_versions == (2 if "2" in policy else 1)


def test_the_policies_differ_so_that_every_rewrite_changes_the_file():
    assert len(set(POLICIES)) == len(POLICIES) >= 2


def test_log_tail_counts_new_complete_lines_and_keeps_error_records_whole(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(
        "2026-11-29 07:50:01,123 I serving: loaded digits version 3 in 0.41 s\n"
        "2026-11-29 07:50:01,200 I serving: unloaded digits version 1\n"
        "2026-11-29 07:50:02,000 I serving: applied the changed model config file /x/models.config\n"
        "2026-11-29 07:50:02,100 I serving: warmed up digits version 3 with 1 requests\n"
        "2026-11-29 07:50:03,000 E serving: internal error answering /v1/models/digits:pre"
    )
    tail = LogTail(log)
    assert sorted(tail.read()) == ["loaded", "reloaded", "unloaded"]
    with open(log, "a") as f:
        f.write(
            'dict\nTraceback (most recent call last):\n  File "serving/rest.py", line 1\n'
            "RuntimeError: dictionary changed size during iteration\n"
            "2026-11-29 07:50:04,000 I serving: loaded digits version 4 in 0.40 s\n"
            "I0000 00:00:1795939085.269395   22099 a line of TensorFlow's C++ logging\n"
        )
    assert tail.read() == ["errors", "loaded"]
    assert tail.errors == [
        "2026-11-29 07:50:03,000 E serving: internal error answering /v1/models/digits:predict\n"
        "Traceback (most recent call last):\n"
        '  File "serving/rest.py", line 1\n'
        "RuntimeError: dictionary changed size during iteration"
    ]
    assert tail.read() == []
