"""Start the model server as a child process on free ports and wait until it is ready.

Used by the tests, the benchmark and the pipeline's REST/gRPC verification rows.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Set for a server this module starts: it stops when the process that started it dies, however
# that dies. A pipeline run or a test killed with SIGKILL runs no atexit handler and no
# `finally`, and its verification servers would otherwise serve on, orphaned.
PARENT_PID_ENV = "MODEL_SERVER_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def stop_with_parent() -> None:
    """In `python -m serving`, first: SIGTERM (a normal, draining stop) when the parent exits."""
    parent = os.environ.pop(PARENT_PID_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # it died before the call: nobody will signal
        os.kill(os.getpid(), signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`with ServerProcess(["--model_name=digits", ...]) as server:` → server.rest_url, grpc_target."""

    def __init__(self, flags: list[str], log: Path | None = None, ready_timeout: float = 120):
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.flags = [
            "--host=127.0.0.1",
            f"--port={self.grpc_port}",
            f"--rest_api_port={self.rest_port}",
            *flags,
        ]
        self.log_path = log
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> ServerProcess:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            PARENT_PID_ENV: str(os.getpid()),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving", *self.flags],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"model server exited with code {self.proc.returncode}{self._tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.rest_url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"model server not ready after {self.ready_timeout:.0f} s{self._tail()}")

    def _tail(self) -> str:
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        lines = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        return ": " + " | ".join(lines[-3:])

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        self.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
