"""bench-peers' parts that need no peer: its request bodies, its verdict, and how it stops a peer.

Fast: no model, no benchmark run. python -m pytest tests/bench -q
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from bench.peers import (
    OURS,
    Peer,
    PeerProcess,
    check_answer,
    descendants,
    oip_body,
    render,
    tf_serving_body,
    tree_cpu_seconds,
)
from bench.serving import Result

X = np.arange(64, dtype=np.float32).reshape(1, 8, 8, 1) / 64


def test_the_bodies_carry_one_instance_in_each_protocol():
    assert np.array_equal(json.loads(tf_serving_body(X))["instances"], X)
    (tensor,) = json.loads(oip_body("image", X))["inputs"]
    assert tensor["name"] == "image" and tensor["datatype"] == "FP32"
    assert tensor["shape"] == [1, 8, 8, 1]
    assert np.array_equal(np.reshape(tensor["data"], tensor["shape"]), X)


def test_a_wrong_answer_stops_the_bench():
    expected = np.array([[0.1, 0.9]])
    check_answer("peer", [0.1, 0.9 + 1e-7], expected)
    for wrong in ([0.9, 0.1], [0.1]):
        try:
            check_answer("peer", wrong, expected)
        except RuntimeError as e:
            assert "peer answered" in str(e)
        else:
            raise AssertionError(f"{wrong} passed")


def row(server: str, protocol: str, conns: int, rps: float, p99: float, errors: int = 0) -> Result:
    return Result(server, protocol, conns, rps, p99 / 2, p99, errors, int(rps * 10), 500.0)


def test_each_peer_is_set_against_this_servers_best_row_at_its_connection_count():
    results = [
        row(OURS, "REST", 64, 3000, 20),
        row(OURS, "gRPC", 64, 1500, 40),
        row("Peer A", "REST", 64, 1000, 80),
        row("Peer B", "REST", 64, 2000, 50),
    ]
    text, passed = render(results, "digits", 10, ["Peer A", "Peer B"])
    assert passed
    assert "| Peer A | REST | 64 | 1,000 | 40.00 | 80.00 | 0 | 500 | 3.00 |" in text
    assert "| Peer B | REST | 64 | 2,000 | 25.00 | 50.00 | 0 | 500 | 1.50 |" in text
    assert "| **this server, batching** | **REST** | **64** | **3,000**" in text  # the best row


def test_the_target_fails_behind_a_peer_over_the_p99_or_with_errors():
    ahead = [row(OURS, "REST", 64, 3000, 20), row("Peer", "REST", 64, 1000, 80)]
    assert render(ahead, "digits", 10, ["Peer"])[1]
    behind = [row(OURS, "REST", 64, 3000, 20), row("Peer", "REST", 64, 3100, 15)]
    text, passed = render(behind, "digits", 10, ["Peer"])
    assert not passed and "| **ahead of Peer at 64 connections** | **0.97 x** | **FAIL** |" in text
    slow = [row(OURS, "REST", 64, 3000, 26), row("Peer", "REST", 64, 1000, 80)]
    assert not render(slow, "digits", 10, ["Peer"])[1]
    errors = [row(OURS, "REST", 64, 3000, 20), row("Peer", "REST", 64, 1000, 80, errors=1)]
    assert not render(errors, "digits", 10, ["Peer"])[1]


def test_a_peer_and_every_process_it_started_are_stopped(tmp_path: Path):
    """Even one that left the peer's session, as Ray's daemons may."""
    python = tmp_path / "peer-fake" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to("/bin/sh")
    script = "setsid sleep 300 & sleep 300 & wait"
    peer = Peer("Fake", "peer-fake", "/", False, list, lambda *a: ["sh", "-c", script], tmp_path)
    with PeerProcess(peer, tmp_path, tmp_path) as proc:
        deadline = time.monotonic() + 10
        while len(proc.pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = proc.pids()
        assert len(started) == 3, started  # sh, its sleep, the sleep in a session of its own
        assert set(tree_cpu_seconds(started)) == started
    time.sleep(0.2)
    alive = [p for p in started if os.path.exists(f"/proc/{p}") and "Z" not in _state(p)]
    assert alive == []
    assert descendants(os.getpid()) >= {os.getpid()}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_without_the_target_connection_count_the_target_is_not_met():
    text, passed = render([row(OURS, "REST", 16, 3000, 5)], "digits", 10, [])
    assert not passed and "| **measured at 64 connections** | **no** | **FAIL** |" in text
