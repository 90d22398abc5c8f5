"""The model server process: load models, serve REST and gRPC, poll the disk, shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from aiohttp import web
from tensorflow_serving.apis import model_service_pb2_grpc

from serving.admission import Budget, GrpcAdmission
from serving.batching import BatchingParameters
from serving.config import ConfigError, ModelSpec, read_model_config_file
from serving.errors import ServingError
from serving.grpc_service import (
    PREDICTION_SERVICE,
    ModelService,
    PredictionService,
    add_prediction_service,
)
from serving.images import DEFAULT_MAX_PIXELS
from serving.manager import ModelManager
from serving.metrics import Metrics
from serving.oip_grpc import InferenceService, add_inference_service
from serving.oip_proto import SERVICE as OIP_SERVICE
from serving.rest import RestApi
from serving.service import Service

log = logging.getLogger("serving")


@dataclass(frozen=True)
class Options:
    host: str
    port: int  # gRPC
    rest_api_port: int  # 0 turns REST off, as in TF Serving
    models: list[ModelSpec]
    model_config_file: Path | None
    model_config_file_poll_wait_seconds: int
    file_system_poll_wait_seconds: int
    batching: BatchingParameters | None
    metrics_path: str | None
    rest_api_timeout_in_ms: int
    rest_api_enable_cors_support: bool
    enable_model_warmup: bool
    allow_version_labels_for_unavailable_models: bool
    max_request_bytes: int
    shutdown_grace_seconds: float
    model_threads: int
    session_threads: tuple[int, int] = (0, 0)  # --tensorflow_intra/inter_op_parallelism
    enable_serialization_as_tensor_content: bool = False  # gRPC Predict outputs as raw bytes
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # largest image a request may have decoded; 0: any
    idle_timeout_seconds: float = 60.0  # a connection with no request in flight is closed after
    max_inflight_request_bytes: int = 64 << 20  # request bytes held at once, REST and gRPC


async def serve(options: Options) -> None:
    """Load the models, serve gRPC and REST until SIGTERM or SIGINT, then drain and stop."""
    loop = asyncio.get_running_loop()
    loader = ThreadPoolExecutor(1, thread_name_prefix="load")  # one load at a time
    workers = ThreadPoolExecutor(options.model_threads, thread_name_prefix="model")
    metrics = Metrics()
    _freeze_startup_objects()  # before any version loads: an unloaded version must be collectable
    manager = await _load_models(options, loader, metrics)
    service = Service(manager, workers, metrics, options.batching, options.max_image_pixels)
    budget = Budget(options.max_inflight_request_bytes)
    budget.report_to(metrics)

    async def reload(specs: list[ModelSpec]) -> None:
        await loop.run_in_executor(loader, manager.configure, specs)

    grpc_server = await _start_grpc(options, service, budget, reload)
    runner = (
        await _start_rest(options, service, budget, grpc_server) if options.rest_api_port else None
    )
    tasks = _start_polling(options, manager, loader, reload)
    _log_serving(options, manager, rest=runner is not None)

    await _until_signalled(loop)
    await _drain(options, service, tasks, grpc_server, runner)
    workers.shutdown(wait=True)
    loader.shutdown(wait=False, cancel_futures=True)
    log.info("stopped")


async def _load_models(
    options: Options, loader: ThreadPoolExecutor, metrics: Metrics
) -> ModelManager:
    """A manager with every configured model loaded; a missing path or failed load is fatal."""
    manager = ModelManager(
        warmup=options.enable_model_warmup,
        allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
        on_load=metrics.load,
        threads=options.session_threads,
    )
    for spec in options.models:
        if not spec.base_path.is_dir():
            raise ConfigError(f"Could not find base path {spec.base_path} for servable {spec.name}")
    try:
        await asyncio.get_running_loop().run_in_executor(
            loader, manager.configure, options.models, True
        )
    except ServingError as e:
        raise ConfigError(e.message) from e
    return manager


def _freeze_startup_objects() -> None:
    """Keep the garbage collector off the long-lived objects start-up left behind."""
    # Importing TensorFlow leaves ~400k long-lived Python objects; a full collection walking them
    # stalls the event loop for 100+ ms (~300 ms measured). Freezing moves them out of the
    # collector's sight (as CPython docs suggest for servers). Model versions are not frozen:
    # frozen objects are never collected, and an unloaded version's graph is freed only by the
    # collector (bench-soak measured ~3 MiB kept per version when each load was frozen too).
    gc.collect()
    gc.freeze()
    # Measured with gc.callbacks at 64 connections, the default thresholds ran ~680 young and ~6
    # full collections a second under load (0.87 s in 10 s, ~14 us a request); these, none.
    gc.set_threshold(50_000, 10, 10)


async def _start_grpc(
    options: Options, service: Service, budget: Budget, reload
) -> grpc.aio.Server:
    """The PredictionService and ModelService on --port, started."""
    # a call reserves this much before its message is read: see serving/admission.py
    share = max(1, min(options.max_request_bytes, options.max_inflight_request_bytes // 8))
    grpc_server = grpc.aio.server(
        interceptors=[GrpcAdmission(budget, share, (PREDICTION_SERVICE.full_name, OIP_SERVICE))],
        options=[
            ("grpc.max_receive_message_length", options.max_request_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
            # A connection that never says hello (no HTTP/2 preface) and one that sits with no call
            # in flight are closed after the idle timeout: silent clients cannot pile up.
            ("grpc.server_handshake_timeout_ms", int(options.idle_timeout_seconds * 1000)),
            ("grpc.max_connection_idle_ms", int(options.idle_timeout_seconds * 1000)),
        ],
    )
    add_prediction_service(
        PredictionService(service, options.enable_serialization_as_tensor_content), grpc_server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(service, reload), grpc_server
    )
    add_inference_service(InferenceService(service), grpc_server)  # the Open Inference Protocol
    try:
        grpc_server.add_insecure_port(f"{options.host}:{options.port}")
    except RuntimeError as e:
        raise ConfigError(f"cannot listen for gRPC on {options.host}:{options.port}: {e}") from e
    await grpc_server.start()
    return grpc_server


async def _start_rest(
    options: Options, service: Service, budget: Budget, grpc_server: grpc.aio.Server
) -> web.AppRunner:
    """The REST API on --rest_api_port, started; gRPC is stopped again if the port is taken."""
    rest = RestApi(
        service,
        timeout_ms=options.rest_api_timeout_in_ms,
        max_request_bytes=options.max_request_bytes,
        budget=budget,
        body_seconds=options.idle_timeout_seconds,
        cors=options.rest_api_enable_cors_support,
        metrics_path=options.metrics_path,
    )
    runner = web.AppRunner(
        rest.app(),
        access_log=None,
        shutdown_timeout=options.shutdown_grace_seconds,
        # from the connection's start and after each answer: a client that sends nothing, or
        # only part of its headers, is closed once this passes
        keepalive_timeout=options.idle_timeout_seconds,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, options.host, options.rest_api_port, backlog=1024).start()
    except OSError as e:
        await grpc_server.stop(None)
        raise ConfigError(
            f"cannot listen for REST on {options.host}:{options.rest_api_port}: {e.strerror}"
        ) from e
    return runner


def _start_polling(
    options: Options, manager: ModelManager, loader: ThreadPoolExecutor, reload
) -> list[asyncio.Task]:
    """Background tasks that watch the base paths for versions and the config file for changes."""
    tasks = [
        asyncio.create_task(_poll_disk(manager, loader, options.file_system_poll_wait_seconds))
    ]
    if options.model_config_file and options.model_config_file_poll_wait_seconds > 0:
        tasks.append(asyncio.create_task(_poll_config(options, reload)))
    return tasks


def _log_serving(options: Options, manager: ModelManager, rest: bool) -> None:
    """One line per model with its available versions, then where the server listens."""
    for name, model in manager.models.items():
        log.info("model %s: versions %s available", name, model.available() or "none")
    log.info(
        "serving gRPC on %s:%d, REST on %s",
        options.host,
        options.port,
        f"{options.host}:{options.rest_api_port}" if rest else "(off)",
    )


async def _until_signalled(loop: asyncio.AbstractEventLoop) -> None:
    """Return once SIGTERM or SIGINT arrives."""
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _drain(
    options: Options,
    service: Service,
    tasks: list[asyncio.Task],
    grpc_server: grpc.aio.Server,
    runner: web.AppRunner | None,
) -> None:
    """Refuse new requests, stop polling, and give in-flight ones the grace period to finish."""
    log.info("shutting down: refusing new requests, finishing in-flight ones")
    service.draining = True
    for task in tasks:
        task.cancel()
    await grpc_server.stop(options.shutdown_grace_seconds)
    if runner is not None:
        await runner.cleanup()


async def _poll_disk(manager: ModelManager, loader: ThreadPoolExecutor, seconds: int) -> None:
    """--file_system_poll_wait_seconds: 0 loads once at start-up and never looks again."""
    if seconds <= 0:
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(seconds)
        try:
            await loop.run_in_executor(loader, manager.sync)
        except Exception:  # a bad poll must not end polling
            log.exception("polling the model base paths failed")


async def _poll_config(options: Options, reload) -> None:
    """--model_config_file_poll_wait_seconds: re-read the config file and apply it when it changes."""
    path = options.model_config_file
    last = path.read_text()
    while True:
        await asyncio.sleep(options.model_config_file_poll_wait_seconds)
        try:
            text = path.read_text()
            if text != last:
                await reload(read_model_config_file(path))
                last = text
                log.info("applied the changed model config file %s", path)
        except (OSError, ConfigError, ServingError) as e:
            log.error("ignoring the model config file %s: %s", path, e)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
