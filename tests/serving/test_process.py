"""The server as a process: start-up errors, --file_system_poll_wait_seconds=0, labels, SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from serving.metrics import BATCH_SIZE, REQUEST_COUNT
from serving.process import ROOT
from tests.serving.conftest import MONITORING, Rest


def only_line(stderr: str) -> str:
    """The error line; anything before it may only be the server's own log lines."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert all(" serving: " in ln for ln in lines[:-1]), stderr
    assert lines[-1].startswith("python -m serving: error: "), stderr
    return lines[-1]


@pytest.mark.parametrize(
    ("flags", "code", "message"),
    [
        (["--port=abc"], 2, "argument --port: invalid int value: 'abc'"),
        (["--enable_batching=maybe"], 2, "expected true or false"),
        ([], 1, "no model: give --model_base_path"),
        (["--model_base_path=models/serving/digits"], 1, "to have an absolute path or URI"),
        (
            ["--model_base_path=/nonexistent/digits"],
            1,
            "Could not find base path /nonexistent/digits",
        ),
        (["--model_config_file=/nonexistent.config"], 1, "cannot read /nonexistent.config"),
    ],
)
def test_bad_flags_give_one_line_and_a_non_zero_exit(run_server, flags, code, message):
    proc = run_server(*flags)
    assert proc.returncode == code
    assert message in only_line(proc.stderr)


def test_a_label_for_an_unavailable_version_stops_start_up_unless_allowed(
    repo, tmp_path, run_server, start_server
):
    config = tmp_path / "labels.config"
    config.write_text(
        "model_config_list { config {\n"
        f'  name: "digits" base_path: "{repo.base("labelled")}" model_platform: "tensorflow"\n'
        "  model_version_policy { specific { versions: 1 } }\n"
        '  version_labels { key: "next" value: 2 }\n'
        "} }\n"
    )
    proc = run_server(f"--model_config_file={config}", "--file_system_poll_wait_seconds=0")
    assert proc.returncode == 1
    assert "Request to assign label to version 2 of model digits, which is not currently " in (
        only_line(proc.stderr)
    )
    server = start_server(
        [
            f"--model_config_file={config}",
            "--allow_version_labels_for_unavailable_models",
            "--file_system_poll_wait_seconds=0",
        ]
    )
    rest = Rest(server.rest_port)
    code, _, doc = rest.post(
        "/v1/models/digits/labels/next:predict", {"instances": [[[[0.0]] * 8] * 8]}
    )
    assert code == 404 and doc["error"] == "Servable not found for request: Specific(digits, 2)"


def test_poll_zero_loads_once_and_sigterm_finishes_in_flight_requests(
    repo, tmp_path, golden, start_server
):
    base = tmp_path / "digits"
    base.mkdir()
    shutil.copytree(repo.source, base / "1")
    batching = tmp_path / "batching.config"
    # a long batch timeout keeps requests in flight for a while: the window SIGTERM lands in
    batching.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1500000 }\n")
    server = start_server(
        [
            "--model_name=digits",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=0",
            "--enable_batching",
            f"--batching_parameters_file={batching}",
        ],
        log=tmp_path / "server.log",
    )
    shutil.copytree(repo.source, base / "2")
    time.sleep(2.5)
    _code, _, doc = Rest(server.rest_port).get("/v1/models/digits")
    assert [s["version"] for s in doc["model_version_status"]] == ["1"]

    results = []

    def request():
        results.append(
            Rest(server.rest_port).post(
                "/v1/models/digits:predict", {"instances": golden.x[:2].tolist()}
            )[0]
        )

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the three requests wait in the open batch
    server.terminate()
    for t in threads:
        t.join(30)
    assert results == [200, 200, 200]
    assert server.proc.wait(30) == 0
    with pytest.raises(ConnectionError):
        Rest(server.rest_port).get("/healthz")
    assert "shutting down" in (tmp_path / "server.log").read_text()


def test_rest_api_timeout_answers_504_and_drops_the_request_from_its_batch(
    repo, tmp_path, golden, signature_outputs, start_server
):
    batching = tmp_path / "batching.config"
    # one instance waits 2 s for its batch to fill: past the 300 ms deadline; four fill it at once
    batching.write_text(
        "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 2000000 }\n"
        "num_batch_threads { value: 1 }\n"
    )
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text(MONITORING)
    server = start_server(
        [
            "--model_name=digits",
            f"--model_base_path={repo.base('digits')}",
            "--file_system_poll_wait_seconds=0",
            "--enable_batching",
            f"--batching_parameters_file={batching}",
            f"--monitoring_config_file={monitoring}",
            "--rest_api_timeout_in_ms=300",
        ],
        log=tmp_path / "server.log",
    )
    rest = Rest(server.rest_port)
    start = time.monotonic()
    code, _, doc = rest.post("/v1/models/digits:predict", {"instances": golden.x[:1].tolist()})
    waited = time.monotonic() - start
    assert (code, doc) == (504, {"error": "Request timed out (--rest_api_timeout_in_ms)"})
    assert 0.3 <= waited < 1.9  # the deadline answered, not the batch timeout
    code, _, doc = rest.post("/v1/models/digits:predict", {"instances": golden.x[:4].tolist()})
    assert code == 200
    assert np.abs(np.asarray(doc["predictions"]) - signature_outputs[:4]).max() <= 1e-6
    time.sleep(2.5)  # the expired request's batch has closed by now
    _, _, text = rest.get("/monitoring/prometheus/metrics")
    # only the full batch ran the model: the one holding just the expired request was dropped
    assert f'{BATCH_SIZE}_count{{model_name="digits"}} 1' in text
    assert f'{REQUEST_COUNT}{{model_name="digits",status="DEADLINE_EXCEEDED"}} 1' in text
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_server_stops_when_the_process_that_started_it_is_killed(saved_model, tmp_path):
    """A run or test killed with SIGKILL runs no cleanup: its servers must not serve on."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from serving.process import ServerProcess\n"
            f"s = ServerProcess(['--model_name=digits', '--model_base_path={saved_model.parent}'])\n"
            "s.start(); print(s.proc.pid, s.rest_port, flush=True); sys.stdin.read()",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid, port = (int(v) for v in parent.stdout.readline().split())
        assert Rest(port).get("/v1/models/digits")[0] == 200  # it served while its parent lived
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        assert not _alive(pid), "the server outlived the process that started it"
    finally:
        parent.kill()
        if _alive(pid := locals().get("pid", 0)):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running, not a zombie (the server's new parent, init, reaps it)."""
    try:
        return pid > 0 and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
