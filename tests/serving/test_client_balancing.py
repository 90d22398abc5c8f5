"""The gRPC client's --target and --lb: one channel whose calls take turns over every address its
target resolves to (round_robin), or stay on one (pick_first, gRPC's default), counted from each
server's own metrics. tests/system/swarm does the same over DNS round-robin replicas."""

from __future__ import annotations

import re
import urllib.request

import numpy as np
import pytest

from serving.client import Client, build_parser, main
from tests.serving.conftest import MONITORING

CALLS = 40
PREDICT_OK = re.compile(
    r':tensorflow:serving:request_count\{model_name="digits",status="OK"\} (\S+)'
)


def predicted(server) -> int:
    """Successful digits calls the server has counted (its Prometheus metrics)."""
    url = f"{server.rest_url}/monitoring/prometheus/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        found = PREDICT_OK.search(r.read().decode())
    return int(float(found[1])) if found else 0


@pytest.fixture
def two_servers(server, start_server, repo, tmp_path):
    """The session's server and a second one on the same model, both counting requests."""
    (tmp_path / "monitoring.config").write_text(MONITORING)
    other = start_server(
        [
            "--model_name=digits",
            f"--model_base_path={repo.base('digits')}",
            f"--monitoring_config_file={tmp_path / 'monitoring.config'}",
        ]
    )
    return server, other


@pytest.mark.parametrize("lb", ["round_robin", "pick_first"])
def test_one_channel_spreads_its_calls_with_round_robin_and_not_with_pick_first(
    two_servers, golden, signature_outputs, lb
):
    servers = two_servers
    target = "ipv4:" + ",".join(s.grpc_target for s in servers)  # one name, two addresses
    args = build_parser().parse_args(["grpc", "--target", target, "--lb", lb, "--npy", "-"])
    before = [predicted(s) for s in servers]
    client = Client(args)
    try:
        for _ in range(CALLS):
            got = client.predict({"image": golden.x}, "serving_default", None, {})
            assert np.max(np.abs(got["probabilities"] - signature_outputs)) <= 1e-6
    finally:
        client.close()
    counts = sorted(predicted(s) - b for s, b in zip(servers, before, strict=True))
    if lb == "round_robin":
        assert counts[0] >= CALLS // 4 and sum(counts) == CALLS, counts
    else:
        assert counts == [0, CALLS], counts


def test_the_command_line_takes_a_dns_target(server, golden, tmp_path, capsys):
    np.save(tmp_path / "x.npy", golden.x[:2])
    printed = []
    for where in (
        [f"--port={server.grpc_port}", "--host=127.0.0.1"],
        [f"--target=dns:///{server.grpc_target}", "--lb=round_robin"],
    ):
        assert main(["grpc", *where, "--npy", str(tmp_path / "x.npy")]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] and printed[0].startswith("0: ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["rest", "--lb=round_robin"],
            "--target and --lb are for grpc; rest takes --host and --port",
        ),
        (["rest", "--target=dns:///x:8500"], "--target and --lb are for grpc"),
        (["grpc", "--target=x:8500", "--port=1"], "--target names the server: give it, or --host"),
        (["grpc", "--lb=random"], "argument --lb: invalid choice: 'random'"),
    ],
)
def test_a_bad_target_or_policy_is_one_line_and_exit_2(args, said, capsys):
    with pytest.raises(SystemExit) as exit:
        main([*args, "--npy", "x.npy"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"python -m serving.client: error: {said}"), err


def test_a_target_that_does_not_resolve_is_one_line_and_exit_1(golden, tmp_path, capsys):
    np.save(tmp_path / "x.npy", golden.x[:1])
    code = main(["grpc", "--target=dns:///nosuch.invalid:8500", "--npy", str(tmp_path / "x.npy")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("python -m serving.client: error: UNAVAILABLE: "), err
