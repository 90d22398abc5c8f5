"""Model versions on disk, loaded and unloaded by policy: polling, warm-up, labels, status.

Loading runs on one background thread; request handlers only read the published state, so a
new version is swapped in with one assignment after it has loaded and warmed up, and requests
already holding the old one finish on it.

A version directory is loaded only when its name is an integer, it holds saved_model.pb, and
(after start-up) its files look the same on two polls in a row: a directory being copied in is
never loaded half-written. A version that fails to load is shown in the status and skipped: the
newest versions that have not failed are the ones aspired to, so a broken version never replaces
a good one. It is tried again if its files change.
"""

from __future__ import annotations

import enum
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving.config import ModelSpec
from serving.errors import ServingError, failed_precondition, invalid, not_found
from serving.servable import Servable

log = logging.getLogger("serving")


class State(enum.IntEnum):
    """ModelVersionStatus.State's values; plain ints (proto enum lookups are slow per request)."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclass
class VersionEntry:
    version: int
    state: int = State.START
    error: ServingError | None = None
    servable: Servable | None = None
    fingerprint: tuple = ()


@dataclass
class Model:
    """One configured model. `versions` (like ModelManager.models) is replaced, never changed in
    place: request handlers iterate it on the event loop while the loader thread adds to it, and
    a dict that changes size under an iteration raises RuntimeError in the request."""

    spec: ModelSpec
    versions: dict[int, VersionEntry] = field(default_factory=dict)
    seen: dict[int, tuple] = field(default_factory=dict)  # fingerprints from the last scan
    scan_error: str | None = None  # why the base path could not be listed, while it cannot
    labels: dict[str, int] = field(default_factory=dict)

    def available(self) -> list[int]:
        return sorted(v for v, e in self.versions.items() if e.state == State.AVAILABLE)


def fingerprint(path: Path) -> tuple:
    """Names, sizes and mtimes of every file under a version: changes while it is being copied."""
    try:
        return tuple(
            sorted(
                (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in path.rglob("*")
                if p.is_file()
            )
        )
    except OSError:
        return ()


def scan(base: Path) -> dict[int, tuple]:
    """Version directories under a model base path, with fingerprints of the complete ones.
    OSError when the base path cannot be listed (gone, unreadable, an unreachable volume)."""
    found = {}
    for child in list(base.iterdir()):
        if child.name.isdigit() and child.is_dir() and (child / "saved_model.pb").is_file():
            found[int(child.name)] = fingerprint(child)
    return found


class ModelManager:
    """Every configured model and its versions; `sync` reconciles them with the disk."""

    def __init__(
        self,
        warmup: bool = True,
        allow_labels_for_unavailable: bool = False,
        on_load: Callable[[str, float, bool], None] | None = None,
        threads: tuple[int, int] = (0, 0),
    ):
        self._threads = threads  # TensorFlow intra- and inter-op threads per session
        self.models: dict[str, Model] = {}
        self._warmup = warmup
        self._allow_unavailable_labels = allow_labels_for_unavailable
        self._on_load = on_load or (lambda path, seconds, ok: None)
        self._lock = threading.Lock()  # one reconciliation at a time (poller vs reload request)

    # -- configuration ----------------------------------------------------------------------

    def configure(self, specs: list[ModelSpec], first: bool = False) -> None:
        """Adopt a new model list: new models load, dropped ones unload, labels are checked."""
        with self._lock:
            wanted = {s.name: s for s in specs}
            models = {}
            for name, spec in wanted.items():
                models[name] = self.models.get(name) or Model(spec)
                models[name].spec = spec
            dropped = [m for name, m in self.models.items() if name not in wanted]
            self.models = models  # a new dict (see Model)
            for model in dropped:
                for entry in model.versions.values():
                    self._unload(model, entry)
            for model in self.models.values():
                self._reconcile(model, first=True)
            for model in self.models.values():
                self._apply_labels(model)

    def _apply_labels(self, model: Model) -> None:
        if not self._allow_unavailable_labels:
            available = set(model.available())
            for version in model.spec.labels.values():
                if version not in available:
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model "
                        f"{model.spec.name}, which is not currently available for inference"
                    )
        model.labels = dict(model.spec.labels)

    def sync(self) -> None:
        """One poll: look at every model's base path and load or unload what changed."""
        with self._lock:
            for model in list(self.models.values()):
                self._reconcile(model, first=False)

    # -- reconciliation ---------------------------------------------------------------------

    def _reconcile(self, model: Model, first: bool) -> None:
        base = model.spec.base_path
        try:
            found = scan(base)
        except OSError as e:
            # As TF Serving: a poll that cannot list the base path changes nothing, so a volume
            # that went away or became unreadable does not unload what is serving. Said once.
            reason = f"cannot list the base path {base}: {e.strerror or e}"
            if reason != model.scan_error:
                up = model.available()
                log.error(
                    "model %s: %s; %s",
                    model.spec.name,
                    reason,
                    f"versions {up} go on serving" if up else "no version is available",
                )
            model.scan_error = reason
            return
        if model.scan_error is not None:
            log.info("model %s: the base path %s can be listed again", model.spec.name, base)
            model.scan_error = None
        previous, model.seen = model.seen, found
        for version, entry in model.versions.items():
            if entry.error is not None and version in found and found[version] != entry.fingerprint:
                entry.error = None  # its files changed since it failed: worth another try
        # Settled: present with the same files on two polls (or at start-up, or already loaded).
        settled = {
            v
            for v, files in found.items()
            if first or previous.get(v) == files or self._is_available(model, v)
        }
        pool = settled & self._policy_pool(model, found)
        while True:  # a version that fails drops out, and the next newest is aspired to instead
            aspired = self._aspired(model, sorted(v for v in pool if not self._failed(model, v)))
            pending = [v for v in sorted(aspired, reverse=True) if self._needs_load(model, v)]
            if not pending:
                break
            for version in pending:
                self._load(model, version, model.spec.base_path / str(version), found[version])
        # Unload what is no longer aspired, but never the last servable version while no aspired
        # one is up (availability first, as TF Serving's default policy), unless it left the disk.
        aspired_up = any(self._is_available(model, v) for v in aspired)
        for version, entry in list(model.versions.items()):
            if entry.state != State.AVAILABLE or version in aspired:
                continue
            if aspired_up or (version not in found and not aspired):
                self._unload(model, entry)

    def _needs_load(self, model: Model, version: int) -> bool:
        entry = model.versions.get(version)
        return entry is None or (entry.state == State.END and entry.error is None)

    def _policy_pool(self, model: Model, found: dict[int, tuple]) -> set[int]:
        spec = model.spec
        return set(spec.versions) & set(found) if spec.policy == "specific" else set(found)

    def _aspired(self, model: Model, loadable: list[int]) -> set[int]:
        spec = model.spec
        if spec.policy == "latest":
            return set(loadable[-spec.num_versions :])
        return set(loadable)  # all, or the listed specific versions that exist

    def _failed(self, model: Model, version: int) -> bool:
        entry = model.versions.get(version)
        return entry is not None and entry.error is not None

    def _is_available(self, model: Model, version: int) -> bool:
        entry = model.versions.get(version)
        return entry is not None and entry.state == State.AVAILABLE

    def _load(self, model: Model, version: int, path: Path, files: tuple) -> None:
        name = model.spec.name
        entry = VersionEntry(version, State.LOADING, fingerprint=files)
        model.versions = {**model.versions, version: entry}  # a new dict (see Model)
        start = time.perf_counter()
        try:
            servable = Servable(name, version, path, self._threads)
            if self._warmup:
                count = servable.warm_up()
                log.info("warmed up %s version %d with %d requests", name, version, count)
        except Exception as e:  # a broken version is a status, not a crash
            entry.state = State.END
            entry.error = ServingError(_code(e), _message(e, path))
            log.error("failed to load %s version %d: %s", name, version, entry.error.message)
            self._on_load(str(path), time.perf_counter() - start, False)
            return
        entry.servable = servable
        entry.state = State.AVAILABLE  # the swap: requests for "latest" now resolve here
        log.info("loaded %s version %d in %.2f s", name, version, time.perf_counter() - start)
        self._on_load(str(path), time.perf_counter() - start, True)

    def _unload(self, model: Model, entry: VersionEntry) -> None:
        entry.state = State.UNLOADING
        if entry.servable is not None:
            entry.servable.batchers.clear()  # they refer back to it; in-flight ones hold their own
        entry.servable = None  # in-flight requests keep their own reference until they finish
        entry.state = State.END
        # A version's graph and session sit in reference cycles, which only the cyclic collector
        # frees, and the server's raised thresholds (server._freeze_startup_objects) seldom run a
        # full collection: collect now, on the loader thread. Versions are never frozen, so this
        # walks what was loaded after start-up (a few thousand objects a version), not TensorFlow's
        # frozen ones. A version an in-flight request still holds goes at the next unload.
        gc.collect()
        log.info("unloaded %s version %d", model.spec.name, entry.version)

    # -- lookups for requests ----------------------------------------------------------------

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        model = self.models.get(name)
        if label:
            if model is None or label not in model.labels:
                raise invalid(f"Unrecognized servable version label: {label}")
            version = model.labels[label]
        if version is not None:
            entry = model.versions.get(version) if model else None
            if entry is None or entry.state != State.AVAILABLE or entry.servable is None:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return entry.servable
        latest = None  # the newest AVAILABLE version, found without sorting on every request
        for entry in model.versions.values() if model else ():
            usable = entry.state == State.AVAILABLE and entry.servable is not None
            if usable and (latest is None or entry.version > latest.version):
                latest = entry.servable
        if latest is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        return latest

    def status(self, name: str, version: int | None = None):
        """GetModelStatusResponse for one model (all its versions, newest first, or one).

        TF Serving ignores a version label here, and so does this server.
        """
        model = self.models.get(name)
        if model is None or not model.versions:
            raise not_found(f"Could not find any versions of model {name}")
        entries = sorted(model.versions.values(), key=lambda e: -e.version)
        if version is not None:
            entries = [e for e in entries if e.version == version]
            if not entries:
                raise not_found(f"Could not find version {version} of model {name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for e in entries:
            status = response.model_version_status.add(version=e.version, state=e.state)
            status.status.SetInParent()  # always printed: {"error_code": "OK", "error_message": ""}
            if e.error is not None:
                status.status.error_code = e.error.code.value[0]
                status.status.error_message = e.error.message
        return response

    def ready(self) -> tuple[bool, list[str]]:
        """Every configured model has an AVAILABLE version; else the names that lack one."""
        missing = [name for name, m in self.models.items() if not m.available()]
        return not missing, missing


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _code(error: Exception) -> grpc.StatusCode:
    if isinstance(error, ServingError):
        return error.code
    return _CODES.get(getattr(error, "error_code", None), grpc.StatusCode.UNKNOWN)


def _message(error: Exception, path: Path) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    first = text.strip().splitlines()[0]
    return f"Failed to load servable from {path}: {first}"
