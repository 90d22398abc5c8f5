"""Clients that hold connections and clients that send a lot at once, against a real server: silent
and slow connections are closed after --idle_timeout_seconds while others are served, and the
request bytes held at once stay within --max_inflight_request_bytes (REST) and its stated bound
(gRPC), with every request answered."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import inference_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import MONITORING, Rest, as_np
from tests.serving.test_grpc import predict_request
from tests.serving.test_hostile import rss_mib

pytestmark = pytest.mark.server
PREDICT = "/v1/models/digits:predict"
IDLE = 10  # --idle_timeout_seconds in the first test


class Received(dict):
    """What the server sent on each connection so far."""

    def closed(self, sock: socket.socket) -> bytes | None:
        """All the server sent, once it closed the connection; None while it is open."""
        while select.select([sock], [], [], 0)[0]:
            try:
                chunk = sock.recv(65536)
            except ConnectionError:
                chunk = b""
            if not chunk:
                return self.get(sock, b"")
            self[sock] = self.get(sock, b"") + chunk
        return None


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def assert_served(server, golden, signature_outputs) -> None:
    """A REST and a gRPC prediction, each equal to the signature's answer."""
    rest = Rest(server.rest_port)
    code, _, doc = rest.post(PREDICT, {"instances": golden.x[:10].tolist()})
    rest.conn.close()
    assert code == 200, doc
    np.testing.assert_allclose(as_np(doc["predictions"]), signature_outputs[:10], atol=1e-6)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        answer = stub.Predict(predict_request(golden.x[:10]), timeout=30)
    np.testing.assert_allclose(
        tf.make_ndarray(answer.outputs["probabilities"]), signature_outputs[:10], atol=1e-6
    )


def test_silent_and_slow_connections_are_closed_after_the_idle_timeout_while_others_are_served(
    repo, start_server, golden, signature_outputs
):
    server = start_server([f"--model_config_file={repo.config}", f"--idle_timeout_seconds={IDLE}"])
    baseline_fds = open_fds(server.proc.pid)
    opened = {}  # each connection's idle clock starts when it connects

    def connect(port: int, send: bytes = b"") -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port))
        opened[s] = time.monotonic()
        if send:
            s.sendall(send)
        return s

    rest_silent = [connect(server.rest_port) for _ in range(300)]  # never send a byte
    grpc_silent = [connect(server.grpc_port) for _ in range(300)]
    socks = rest_silent + grpc_silent
    # slowloris: headers that never end, bodies that never arrive
    half_headers = [
        connect(server.rest_port, b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\nContent-")
        for _ in range(20)
    ]
    half_bodies = [
        connect(
            server.rest_port,
            b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{",
        )
        for _ in range(20)
    ]

    assert_served(server, golden, signature_outputs)  # meanwhile, others are served
    received = Received()
    now = time.monotonic()
    young = [s for s, at in opened.items() if now - at < IDLE - 1]  # all, unless very busy
    assert len(young) > len(opened) // 2, "connecting took longer than the idle timeout"
    early = [s for s in young if received.closed(s) is not None]
    assert early == [], f"{len(early)} connections closed before their idle timeout"

    deadline = time.monotonic() + 30
    waiting = socks + half_headers + half_bodies
    answers = {}
    while waiting and time.monotonic() < deadline:
        for s in list(waiting):
            got = received.closed(s)
            if got is not None:
                answers[s] = got
                waiting.remove(s)
        time.sleep(0.1)
    assert not waiting, f"{len(waiting)} connections still open 30 s after the idle timeout"
    for s in half_headers + rest_silent:
        assert answers[s] == b""  # nothing to answer: closed
    # gRPC says goodbye first: a GOAWAY frame (type 7) whose debug data names the reason
    for s in grpc_silent:
        assert answers[s].lower().endswith((b"connection idle", b"handshake timeout")), answers[s]
    for s in half_bodies:  # a started request is answered before its connection closes
        head, _, body = answers[s].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), head
        assert json.loads(body) == {
            "error": f"Request body not received within {IDLE} s of its headers "
            "(--idle_timeout_seconds)"
        }
    for s in socks + half_headers + half_bodies:
        s.close()

    # the server holds no more descriptors than before, and still answers
    time.sleep(0.5)
    assert open_fds(server.proc.pid) <= baseline_fds + 5
    rest = Rest(server.rest_port)
    code, _, doc = rest.post(PREDICT, {"instances": golden.x[:10].tolist()})
    assert code == 200, doc
    rest.conn.close()


MAX_REQUEST = 4 << 20
BUDGET = 12 << 20


def start_with_budget(start_server, repo, tmp_path, budget: int):
    """A server on the repository with metrics on, MAX_REQUEST-byte requests and this budget."""
    (tmp_path / "monitoring.config").write_text(MONITORING)
    return start_server(
        [
            f"--model_config_file={repo.config}",
            f"--monitoring_config_file={tmp_path / 'monitoring.config'}",
            f"--max_request_bytes={MAX_REQUEST}",
            f"--max_inflight_request_bytes={budget}",
        ]
    )


def metric(rest: Rest, name: str) -> float:
    _, _, text = rest.get("/monitoring/prometheus/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in the metrics")


def held_after_calls(rest: Rest, seconds: float = 5.0) -> float:
    """request_bytes_held once the calls just answered have ended on the server: a gRPC call's
    bytes go back when its server task ends, which can be a moment after the client has its
    answer. Returns at once when it is 0; otherwise what is still held after `seconds`."""
    deadline = time.monotonic() + seconds
    while (
        held := metric(rest, ":model_server:request_bytes_held")
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    return held


async def rest_uploads(port: int, body: bytes, count: int) -> list[tuple[int, bytes]]:
    """`count` connections that each send the whole body at once, then read the answer."""

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        answer = await reader.read()
        writer.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), payload

    return await asyncio.gather(*(one() for _ in range(count)))


def test_concurrent_large_requests_wait_for_the_budget_and_all_are_answered(
    repo, start_server, signatures, tmp_path
):
    server = start_with_budget(start_server, repo, tmp_path, BUDGET)
    rest = Rest(server.rest_port)
    x = np.random.default_rng(0).random((2500, 8, 8, 1), dtype=np.float32)
    body = json.dumps({"instances": x.tolist()}).encode()
    assert 3 << 20 < len(body) <= MAX_REQUEST  # three don't fit the budget together
    expected = signatures["serving_default"](image=tf.constant(x))["probabilities"].numpy()
    rss_before = rss_mib(server.proc.pid)

    answers = asyncio.run(rest_uploads(server.rest_port, body, 48))
    assert [code for code, _ in answers] == [200] * 48
    for _, payload in answers[::12]:
        np.testing.assert_allclose(
            as_np(json.loads(payload)["predictions"]), expected, rtol=1e-5, atol=1e-6
        )
    assert metric(rest, ":model_server:request_bytes_held_peak") <= BUDGET
    assert metric(rest, ":model_server:request_bytes_held") == 0

    # gRPC: 24 calls of ~2 MB at once on three channels; a call reserves BUDGET / 8 unread
    xg = np.random.default_rng(1).random((8000, 8, 8, 1), dtype=np.float32)
    expected = signatures["serving_default"](image=tf.constant(xg))["probabilities"].numpy()
    request = predict_request(xg)
    size = request.ByteSize()
    errors, results = [], []

    def call(stub):
        try:
            out = stub.Predict(request, timeout=120).outputs["probabilities"]
            results.append(tf.make_ndarray(out))
        except grpc.RpcError as e:
            errors.append(f"{e.code().name}: {e.details()}")

    channels = [grpc.insecure_channel(server.grpc_target) for _ in range(3)]
    stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]
    threads = [threading.Thread(target=call, args=(stubs[i % 3],)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in channels:
        c.close()
    assert errors == []
    assert len(results) == 24
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)
    share = BUDGET // 8
    bound = BUDGET + 8 * (MAX_REQUEST - share)  # serving/admission.py
    assert metric(rest, ":model_server:request_bytes_held_peak") <= bound
    assert held_after_calls(rest) == 0
    assert size > share  # the calls were larger than their provisional share: the bound held
    growth = rss_mib(server.proc.pid) - rss_before
    print(f"RSS growth after 48 REST and 24 gRPC requests of 2-4 MiB: {growth:.0f} MiB")
    rest.conn.close()


def test_a_client_that_declares_a_large_body_and_dawdles_blocks_nobody(
    repo, start_server, golden, signature_outputs, tmp_path
):
    """Three uploads that declare the whole budget and stall: others are answered meanwhile,
    and calls that end before any handler runs give their bytes back."""
    server = start_with_budget(start_server, repo, tmp_path, MAX_REQUEST)
    stalled = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.rest_port))
        s.sendall(
            b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n{" % MAX_REQUEST
        )
        stalled.append(s)
    time.sleep(0.5)
    assert_served(server, golden, signature_outputs)
    rest = Rest(server.rest_port)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        multi = inference_pb2.MultiInferenceRequest()
        multi.tasks.add().model_spec.name = "digits"  # a few bytes, which must come back
        with pytest.raises(grpc.RpcError) as caught:  # aborted, never through the handlers
            stub.MultiInference(multi, timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(predict_request(golden.x[:1], name="nope"), timeout=30)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    received = Received()
    assert [received.closed(s) for s in stalled] == [None] * 3  # still uploading, unanswered
    assert held_after_calls(rest) == 0
    for s in stalled:
        s.close()
    rest.conn.close()
