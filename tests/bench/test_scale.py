"""bench-scale's report: ratios against one replica and one worker, and the reading beside them.

Fast: no swarm, no training. python -m pytest tests/bench -q
"""

from __future__ import annotations

from argparse import Namespace

from bench.scale import Serving, Training, main, render


def test_ratios_are_against_one_replica_and_one_worker():
    serving = [
        Serving(1, 1000.0, 10.0, 30.0, 0, 15000, 800.0, 100.0),
        Serving(3, 900.0, 12.0, 40.0, 2, 13500, 950.0, 120.0),
    ]
    training = [
        Training(1, 32, 30, 20.0, 0.1, 0.8, 0.98),
        Training(2, 64, 28, 50.0, 12.0, 1.0, 0.98),
    ]
    text, tables = render("digits", serving, training, Namespace(connections=32, duration=15))
    replicas, workers = tables
    assert replicas.rows[0][0][2] == "1.00" and replicas.rows[1][0][2] == "0.90"
    assert replicas.rows[1][1]  # a row with errors stands out
    assert workers.rows[1][0][4] == "2.50"  # ms per step against one worker's
    assert workers.rows[1][0][6] == "1,280"  # samples per second: 64 per 50 ms
    assert "| **3** | **900** | **0.90** |" in text and "cores" in text


def test_bad_counts_are_one_line(capsys):
    assert main(["--replicas", "1,two"]) == 2
    assert main(["--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("python -m bench.scale: error:") for line in err)
