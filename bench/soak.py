"""bench-soak: the model server under load while versions come and go and its config reloads.

python -m bench.soak --name digits --seconds 120    # writes models/reports/<name>/bench-soak.md

The newest SavedModel version is copied into a scratch base path under models/.bench/ and served
by the real server (REST and gRPC, batching on, the disk and the config file polled every
second). For --seconds, REST and gRPC clients (bench/soak_load.py, their own process) ask for the
latest version and check every answer against the golden reference. Every --churn-seconds a new
version is published as the pipeline publishes one (built beside the base path, renamed in), the
oldest is removed once more than --keep are on disk, and the model config file is rewritten with
the next version policy. The server's RSS is read from /proc every second. Errors must be 0 and
the RSS may not grow by more than the bound; the run exits 1 otherwise, after writing its report.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench.soak_report import Run, render, windows
from bench.table import write_report
from pipeline import ui
from pipeline.config import DEFAULT_NAME, MODELS_DIR, ROOT
from pipeline.layout import Layout, publish_new, write_text_atomic
from serving.process import ServerProcess

# The policies the config file cycles through. With --keep 2 versions on disk, `latest 1` unloads
# the older one and the next `latest 2` loads it back: every rewrite makes the server do work.
POLICIES = ("latest { num_versions: 2 }", "all {}", "latest { num_versions: 1 }")
# The bound on the server's RSS growth from the first window after warm-up to the last. Measured
# on 2026-11-29 (docs/benchmarks.md), 120 s with a version published and one removed every 3 s:
# +1.7 to +6.4 MiB; +102 MiB while the server kept ~3 MiB of every version it unloaded (~40 a run).
MAX_GROWTH_MIB = 32.0
METRICS_PATH = "/monitoring/prometheus/metrics"  # serving/configs/monitoring.config
REQUEST_COUNT = re.compile(
    r':tensorflow:serving:request_count\{model_name="([^"]*)",status="(\w+)"\} (\S+)'
)
# What the server log says happened (serving/server.py and serving/manager.py word these lines).
LOG_EVENTS = {
    "reloaded": re.compile(r"applied the changed model config file"),
    "loaded": re.compile(r"\bloaded \S+ version \d+ in"),
    "unloaded": re.compile(r"\bunloaded \S+ version \d+"),
    "errors": re.compile(r"^\S+ \S+ [EC] "),  # ERROR and CRITICAL lines of its log format
}
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z] ")  # a record's first line


def model_config(name: str, base_path: Path, policy: str) -> str:
    """TF Serving's model_config_list (text protobuf) for one model."""
    return (
        "model_config_list {\n  config {\n"
        f'    name: "{name}"\n    base_path: "{base_path}"\n    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ {policy} }}\n"
        "  }\n}\n"
    )


def rss_mib(pid: int) -> float:
    """A process's resident set size (Linux /proc/<pid>/status, VmRSS in kB), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Versions:
    """A scratch model base path that gains and loses SavedModel versions as the pipeline's do."""

    def __init__(self, root: Path, name: str, source: Path):
        self.layout = Layout(root, name)
        self.source = source
        self.building = root / ".staging"  # beside the base path: the same filesystem
        self.published: list[int] = []
        self.removed: list[int] = []

    def publish(self) -> int:
        """Copy the source version in under the next number: built aside, then one rename."""
        version = (self.layout.latest_version() or 0) + 1
        built = self.building / str(version)
        shutil.copytree(self.source, built)
        publish_new(built, self.layout.version_dir(version))
        self.published.append(version)
        return version

    def remove_oldest(self, keep: int) -> list[int]:
        """All but the newest `keep` versions, each out of view in one rename, then deleted (as
        pipeline.export.prune_versions does; that module imports TensorFlow, this one does not)."""
        doomed = self.layout.versions()[:-keep]
        for version in doomed:
            gone = self.layout.serving_base / f".tmp-delete-{version}"
            self.layout.version_dir(version).rename(gone)
            shutil.rmtree(gone)
        self.removed += doomed
        return doomed


class LogTail:
    """New lines of the server's log since the last read, as LOG_EVENTS kinds; its ERROR records
    kept whole, with the traceback lines under them."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0
        self.errors: list[str] = []
        self._in_error = False

    def read(self) -> list[str]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        kinds = []
        for line in complete.decode(errors="replace").splitlines():
            if not RECORD.match(line):  # a traceback line, or TensorFlow's own C++ logging
                if self._in_error:
                    self.errors[-1] += "\n" + line
                continue
            self._in_error = False
            for kind, pattern in LOG_EVENTS.items():
                if pattern.search(line):
                    kinds.append(kind)
                    if kind == "errors":
                        self.errors.append(line)
                        self._in_error = True
        return kinds


class Load:
    """python -m bench.soak_load as a child process; its per-second lines collected by a thread."""

    def __init__(self, server: ServerProcess, name: str, golden_dir: Path, args, log: Path):
        rest = args.connections // 2
        cmd = [
            sys.executable,
            *("-m", "bench.soak_load", "--rest", server.rest_url, "--grpc", server.grpc_target),
            *("--name", name, "--golden-dir", str(golden_dir), "--seconds", str(args.seconds)),
            *("--rest-connections", str(rest), "--grpc-connections", str(args.connections - rest)),
        ]
        self.stderr = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        self.lines: list[dict] = []
        self.ready = threading.Event()
        self.ready_at = 0.0  # the load's clock (monotonic, system-wide) when the run starts
        self.checks = 0  # requests it sent before that, to see that both APIs answer
        self.log = log
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            doc = json.loads(raw)
            if "ready" in doc:
                self.ready_at, self.checks = doc["ready"], doc["requests"]
                self.ready.set()
            elif "done" not in doc:
                self.lines.append(doc)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the soak load did not start: {self.tail()}")

    def finish(self, timeout: float) -> None:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        if code != 0:
            raise RuntimeError(f"the soak load failed (exit {code}): {self.tail()}")

    @property
    def sent(self) -> int:
        counted = sum(
            len(d["rest"]) + len(d["grpc"]) + sum(d["errors"].values()) for d in self.lines
        )
        return self.checks + counted

    def tail(self) -> str:
        self.stderr.flush()
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def request_counts(rest_url: str, name: str) -> Counter:
    """The server's own request_count for a model, by status (Prometheus text)."""
    with urllib.request.urlopen(rest_url + METRICS_PATH, timeout=10) as r:
        text = r.read().decode()
    counts = Counter()
    for model, status, value in REQUEST_COUNT.findall(text):
        if model == name:
            counts[status] += int(float(value))
    return counts


def until_available(
    rest_url: str, name: str, wanted: set[int], exact: bool, timeout: float
) -> float | None:
    """Seconds until the server's model status shows `wanted` AVAILABLE (with `exact`, nothing
    else), or None at the timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with urllib.request.urlopen(f"{rest_url}/v1/models/{name}", timeout=10) as r:
            statuses = json.loads(r.read())["model_version_status"]
        up = {int(s["version"]) for s in statuses if s["state"] == "AVAILABLE"}
        if up == wanted or (not exact and wanted <= up):
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def describe(args) -> str:
    """What a run does, in a sentence or two for its report."""
    rest = args.connections // 2
    return (
        f"`{args.name}`: the newest SavedModel version, copied into a scratch base path, served "
        "by `python -m serving` (REST and gRPC, batching with serving/configs/batching.config, "
        f"the disk and the config file polled every second) for {args.seconds:g} s. {rest} REST "
        f"and {args.connections - rest} gRPC clients in a loop on the latest version, one golden "
        f"input per request, each answer checked against the golden reference. Every "
        f"{args.churn_seconds:g} s a version is published (built beside, renamed in), the oldest "
        f"removed beyond {args.keep}, and the model config rewritten with the next policy of "
        f"{', '.join(f'`{p}`' for p in POLICIES)}."
    )


def soak(args, layout: Layout, work: Path) -> Run:
    """Serve a copy of the newest version from `work`, then load, churn and sample for a while."""
    versions = Versions(work, args.name, layout.version_dir(layout.latest_version()))
    versions.publish()
    config = work / "models.config"
    base = versions.layout.serving_base
    write_text_atomic(config, model_config(args.name, base, POLICIES[0]))
    flags = [
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
        "--file_system_poll_wait_seconds=1",
        "--enable_batching",
        f"--batching_parameters_file={ROOT / 'serving/configs/batching.config'}",
        f"--monitoring_config_file={ROOT / 'serving/configs/monitoring.config'}",
    ]
    log = work / "server.log"
    rss: list[tuple[float, float]] = []
    events: list[tuple[float, str]] = []
    with ServerProcess(flags, log=log, ready_timeout=180) as server:
        tail = LogTail(log)
        tail.read()  # start-up is not part of the run
        before = request_counts(server.rest_url, args.name)
        load = Load(server, args.name, layout.golden_dir, args, work / "load.log")
        try:
            load.wait_ready(timeout=180)
            ui.console.print(
                f"soak: {args.seconds:g} s, {args.connections} clients, churn every "
                f"{args.churn_seconds:g} s"
            )
            t0 = load.ready_at
            next_sample, next_churn, rewrites, slowest = 0.0, args.churn_seconds, 0, 0.0
            while (now := time.monotonic() - t0) < args.seconds:
                if server.proc.poll() is not None:
                    raise RuntimeError(f"the server exited (code {server.proc.returncode})")
                if now >= next_churn:
                    versions.publish()
                    events.append((now, "published"))
                    events += [(now, "removed") for _ in versions.remove_oldest(args.keep)]
                    rewrites += 1
                    policy = POLICIES[rewrites % len(POLICIES)]
                    write_text_atomic(config, model_config(args.name, base, policy))
                    events.append((now, "written"))
                    done = time.monotonic() - t0  # publishing fsyncs: a busy disk can take seconds
                    slowest = max(slowest, done - now)
                    # late (a slow step, a busy machine): half a period at least, never a burst
                    next_churn = max(next_churn + args.churn_seconds, done + args.churn_seconds / 2)
                if now >= next_sample:
                    rss.append((now, rss_mib(server.proc.pid)))
                    events += [(now, kind) for kind in tail.read()]
                    next_sample += 1.0
                time.sleep(max(0.0, min(next_churn, next_sample) - (time.monotonic() - t0)))
            load.finish(timeout=120)
            after = request_counts(server.rest_url, args.name)
            newest = {versions.published[-1]}
            settle = until_available(server.rest_url, args.name, newest, exact=False, timeout=60)
            # A last config no policy of the run produced: the oldest version on disk alone. The
            # server must still be reading its config file, and apply it.
            last = {versions.layout.versions()[0]}
            final = f"specific {{ versions: {min(last)} }}"
            write_text_atomic(config, model_config(args.name, base, final))
            events.append((args.seconds, "written"))
            applied = until_available(server.rest_url, args.name, last, exact=True, timeout=60)
            time.sleep(1.5)  # the server logs a reload after applying it
            events += [(args.seconds, kind) for kind in tail.read()]
        except Exception:
            lines = log.read_text(errors="replace").splitlines()[-20:]
            ui.console.print("the server's log, last lines:\n" + "\n".join(lines), markup=False)
            raise
        finally:
            load.stop()
    lines = [{**line, "at": line["at"] - t0} for line in load.lines]
    return Run(
        lines,
        rss,
        events,
        after - before,
        load.sent,
        versions.published,
        versions.removed,
        settle,
        final,
        applied,
        slowest,
        tail.errors,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--name", default=DEFAULT_NAME, help=f"model name (default: {DEFAULT_NAME})")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="default: models/")
    p.add_argument(
        "--seconds", type=float, default=120, help="how long the load runs (default: 120)"
    )
    p.add_argument(
        "--connections", type=int, default=16, help="clients, half REST and half gRPC (default: 16)"
    )
    p.add_argument(
        "--churn-seconds",
        type=float,
        default=3,
        help="a version published and the config rewritten this often (default: 3)",
    )
    p.add_argument(
        "--keep", type=int, default=2, help="versions left on disk after each removal (default: 2)"
    )
    p.add_argument(
        "--window",
        type=float,
        default=10,
        help="seconds per table row; the first is the warm-up (default: 10)",
    )
    p.add_argument(
        "--max-growth-mib",
        type=float,
        default=MAX_GROWTH_MIB,
        help=f"the RSS growth bound (default: {MAX_GROWTH_MIB:g})",
    )
    args = p.parse_args(argv)
    if args.window < 2 or args.seconds < 3 * args.window:
        p.error("--seconds must hold at least three windows of 2 s or more: warm-up, start, end")
    if args.connections < 2 or args.keep < 1 or args.churn_seconds < 2:
        p.error("--connections must be at least 2, --keep at least 1, --churn-seconds at least 2")
    layout = Layout(args.models_dir.resolve(), args.name)
    if not layout.versions() or not (layout.golden_dir / "golden.npz").is_file():
        p.error(f"no SavedModel under {layout.serving_base} or no golden set: run make all")
    # SIGTERM (make killed, a CI timeout) unwinds like Ctrl-C: the server stops, scratch goes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    (layout.root / ".bench").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="soak-", dir=layout.root / ".bench"))
    outcome = "failed"  # unless it gets to the end and passes, or is interrupted
    try:
        run = soak(args, layout, work)
        rows = windows(run.lines, run.rss, run.events, args.window, args.seconds)
        text, passed = render(run, rows, args, describe(args))
        ui.console.print(f"wrote {write_report(layout.reports_dir, 'soak', text)}")
        outcome = "passed" if passed else "failed"
    except KeyboardInterrupt:
        outcome = "interrupted"
        ui.console.print("bench-soak: interrupted; the server is stopped and its scratch removed")
        return 130
    finally:
        log = work / "server.log"
        if outcome == "failed" and log.is_file():  # the evidence outlives the scratch
            kept = log.rename(work.parent / f"{work.name}-server.log")
            ui.console.print(f"the server's log is kept: {kept}")
        shutil.rmtree(work, ignore_errors=True)
    if outcome == "failed":
        ui.console.print("[bold red]bench-soak: a target was missed[/] (see the targets above)")
    return 0 if outcome == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
