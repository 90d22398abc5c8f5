"""Faults injected under a client loop, in the model-server container: what users see for each.

- The server process dies (SIGKILL): Docker's restart policy starts it again, it is healthy
  again within three minutes (about 20 s here), and a client that retries loses no request.
- A version directory is deleted while it serves: the previous version is loaded, then the
  deleted one unloaded (status END); no request fails.
- The models volume becomes unreadable: the loaded versions go on serving, the log says why once,
  and versions published meanwhile load once it can be read again.
- A version's warm-up file is corrupt: that version ends with the reader's error in its status
  and never serves; the version before it goes on serving.
A full disk during a pipeline run is tests/pipeline/test_disk_full.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from tests.serving.conftest import Rest

pytestmark = pytest.mark.containers


def test_a_killed_server_restarts_and_a_retrying_client_loses_nothing(start, client_loop):
    server = start("--shutdown_grace_seconds=1", restart=True)
    with client_loop(server) as loop:
        loop.wait_answers(20)
        server.container.reload()
        os.kill(server.container.attrs["State"]["Pid"], signal.SIGKILL)  # as the OOM killer would
        server.wait_for(lambda: _restarts(server) == 1)
        server.wait_for(lambda: _health(server) == "healthy", seconds=180)
        loop.wait_answers(20)
    assert loop.lost == [] and loop.wrong == []
    assert loop.retries > 0  # the client did see the server go away
    assert server.logs().count("serving gRPC on") == 2  # the same container, started twice
    assert server.status() == {"1": "AVAILABLE"}


def _restarts(server) -> int:
    server.container.reload()
    return server.container.attrs["RestartCount"]


def _health(server) -> str:
    server.container.reload()
    return server.container.attrs["State"].get("Health", {}).get("Status", "")


def test_a_version_deleted_while_it_serves_hands_over_to_the_previous_one(
    start, volume, client_loop
):
    volume.publish(2)
    server = start()
    assert server.status() == {"2": "AVAILABLE"}  # the latest only: version 1 was never loaded
    with client_loop(server) as loop:
        loop.wait_answers(20)
        shutil.rmtree(volume.base / "2")
        server.wait_for(lambda: server.status() == {"1": "AVAILABLE", "2": "END"})
        loop.wait_answers(20)
    assert loop.lost == [] and loop.wrong == [] and loop.retries == 0
    code, _, doc = Rest(server.rest_port).post(
        "/v1/models/digits/versions/2:predict", {"instances": volume.x.tolist()}
    )
    assert (code, doc) == (404, {"error": "Servable not found for request: Specific(digits, 2)"})


def test_an_unreadable_models_volume_keeps_the_loaded_versions_serving(start, volume, client_loop):
    server = start()
    with client_loop(server) as loop:
        loop.wait_answers(10)
        os.chmod(volume.base, 0o000)  # the container's user (uid 10001) can no longer list it
        try:
            volume.publish(2)  # root, on the host, can: invisible to the server for now
            server.wait_for(lambda: "cannot list the base path" in server.logs())
            time.sleep(3)  # three more polls, which must not say it again
            loop.wait_answers(20)
            assert server.status() == {"1": "AVAILABLE"}
        finally:
            os.chmod(volume.base, 0o755)
        server.wait_for(lambda: server.status() == {"2": "AVAILABLE", "1": "END"})
        loop.wait_answers(10)
    assert loop.lost == [] and loop.wrong == [] and loop.retries == 0
    log = server.logs()
    said = "model digits: cannot list the base path /models/digits: Permission denied; "
    assert log.count(said + "versions [1] go on serving") == 1, log[-3000:]
    assert "the base path /models/digits can be listed again" in log
    assert "Traceback" not in log


def test_a_corrupt_warm_up_file_fails_its_version_and_the_previous_one_serves(
    start, volume, client_loop
):
    server = start()
    with client_loop(server) as loop:
        loop.wait_answers(10)
        scratch = volume.root / ".broken"
        shutil.copytree(volume.source, scratch)
        warmup = scratch / "assets.extra" / "tf_serving_warmup_requests"
        data = bytearray(warmup.read_bytes())
        data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)  # a torn write
        warmup.write_bytes(bytes(data))
        volume.publish(2, scratch)
        server.wait_for(lambda: server.version_status(2).get("state") == "END")
        loop.wait_answers(10)
    assert loop.lost == [] and loop.wrong == [] and loop.retries == 0
    assert server.status() == {"1": "AVAILABLE", "2": "END"}
    status = server.version_status(2)["status"]
    assert status["error_code"] == "DATA_LOSS", status
    assert status["error_message"].startswith(
        "Failed to load servable from /models/digits/2: the warm-up file "
        "assets.extra/tf_serving_warmup_requests cannot be read: "
    ), status
    assert "Traceback" not in server.logs()
