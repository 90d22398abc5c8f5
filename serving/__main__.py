"""The model server, with tensorflow_model_server's flag names.

python -m serving --model_name=digits --model_base_path=$PWD/models/serving/digits
python -m serving --model_config_file=models.config --enable_batching --monitoring_config_file=m.config
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving.images import DEFAULT_MAX_PIXELS
from serving.process import stop_with_parent
from serving.quiet import quiet_import_tensorflow


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m serving", description=__doc__.splitlines()[0])

    def flag(name, default, help, type=str):
        if type is bool:  # --flag, --flag=true, --flag=false: tensorflow_model_server's forms
            p.add_argument(
                f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help
            )
        else:
            p.add_argument(f"--{name}", type=type, default=default, help=help)

    flag("port", 8500, "gRPC port", int)
    flag("rest_api_port", 8501, "REST port; 0 turns REST off", int)
    flag("model_name", "default", "name of the one model (with --model_base_path)")
    flag("model_base_path", None, "folder holding the model's integer version folders")
    flag("model_config_file", None, "text-format ModelServerConfig (model_config_list)")
    flag(
        "model_config_file_poll_wait_seconds",
        0,
        "re-read the config file this often; 0: never",
        int,
    )
    flag("file_system_poll_wait_seconds", 1, "look for new versions this often; 0: load once", int)
    flag("enable_batching", False, "merge concurrent requests into one model call", bool)
    flag("batching_parameters_file", None, "text-format BatchingParameters")
    flag("monitoring_config_file", None, "text-format MonitoringConfig (Prometheus)")
    flag("rest_api_timeout_in_ms", 30000, "REST request deadline in ms; 0: none", int)
    flag("rest_api_enable_cors_support", False, "answer CORS preflights; allow any origin", bool)
    flag(
        "enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests at load", bool
    )
    flag(
        "allow_version_labels_for_unavailable_models",
        False,
        "let a label name a version that is not loaded yet",
        bool,
    )
    flag("rest_api_num_threads", 0, "accepted for compatibility (REST runs on an event loop)", int)
    flag("tensorflow_intra_op_parallelism", 0, "threads inside one op; 0: TensorFlow picks", int)
    flag("tensorflow_inter_op_parallelism", 0, "ops run at once; 0: TensorFlow picks", int)
    flag(
        "enable_serialization_as_tensor_content",
        False,
        "gRPC Predict outputs in tensor_content, not the typed fields (float_val, ...)",
        bool,
    )
    # Extensions (not in tensorflow_model_server):
    flag("host", "0.0.0.0", "address to listen on (extension)")
    flag("max_request_bytes", 64 << 20, "largest request body accepted (extension)", int)
    flag(
        "shutdown_grace_seconds",
        10.0,
        "time in-flight requests get after SIGTERM (extension)",
        float,
    )
    flag(
        "max_image_pixels",
        DEFAULT_MAX_PIXELS,
        "refuse an image input whose header declares more pixels; 0: no limit (extension)",
        int,
    )
    flag(
        "idle_timeout_seconds",
        60.0,
        "close a REST or gRPC connection with no request in flight after this long (extension)",
        float,
    )
    flag(
        "max_inflight_request_bytes",
        64 << 20,
        "request bytes held at once, REST and gRPC; more wait unread (extension)",
        int,
    )
    flag(
        "model_threads",
        0,
        "threads running model calls; 0: batch threads or cores (extension)",
        int,
    )
    return p


def options_from(args):
    from serving.config import (
        ConfigError,
        ModelSpec,
        read_batching_parameters,
        read_metrics_path,
        read_model_config_file,
    )
    from serving.server import Options, cores

    if args.model_config_file and args.model_base_path:
        raise ConfigError("give either --model_config_file or --model_base_path, not both")
    if args.model_config_file:
        config_file = Path(args.model_config_file)
        models = read_model_config_file(config_file)
    elif args.model_base_path:
        config_file = None
        base = Path(args.model_base_path)
        if not base.is_absolute():  # as tensorflow_model_server: an absolute path or a URI
            raise ConfigError(
                f"Expected model {args.model_name} to have an absolute path or URI; "
                f"got base_path()={base}"
            )
        models = [ModelSpec(args.model_name, base)]
    else:
        raise ConfigError(
            "no model: give --model_base_path (with --model_name) or --model_config_file"
        )
    if args.max_image_pixels < 0:
        raise ConfigError("--max_image_pixels must be 0 (no limit) or more")
    if args.max_inflight_request_bytes < args.max_request_bytes:
        raise ConfigError(
            "--max_inflight_request_bytes must be at least --max_request_bytes "
            f"({args.max_request_bytes})"
        )
    if args.idle_timeout_seconds <= 0:
        raise ConfigError("--idle_timeout_seconds must be more than 0")
    if args.batching_parameters_file and not args.enable_batching:
        raise ConfigError("--batching_parameters_file needs --enable_batching")
    batching = None
    if args.enable_batching:
        path = Path(args.batching_parameters_file) if args.batching_parameters_file else None
        batching = read_batching_parameters(path, cores())
    metrics_path = read_metrics_path(
        Path(args.monitoring_config_file) if args.monitoring_config_file else None
    )
    threads = args.model_threads or (batching.num_batch_threads if batching else max(2, cores()))
    return Options(
        host=args.host,
        port=args.port,
        rest_api_port=args.rest_api_port,
        models=models,
        model_config_file=config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        metrics_path=metrics_path,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        rest_api_enable_cors_support=args.rest_api_enable_cors_support,
        enable_model_warmup=args.enable_model_warmup,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        max_request_bytes=args.max_request_bytes,
        shutdown_grace_seconds=args.shutdown_grace_seconds,
        model_threads=threads,
        session_threads=(
            args.tensorflow_intra_op_parallelism,
            args.tensorflow_inter_op_parallelism,
        ),
        enable_serialization_as_tensor_content=args.enable_serialization_as_tensor_content,
        max_image_pixels=args.max_image_pixels,
        idle_timeout_seconds=args.idle_timeout_seconds,
        max_inflight_request_bytes=args.max_inflight_request_bytes,
    )


def main(argv: list[str] | None = None) -> int:
    stop_with_parent()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    quiet_import_tensorflow(init_devices=True)
    import tensorflow as tf

    from serving.config import ConfigError
    from serving.server import serve

    tf.get_logger().setLevel("ERROR")  # the v1 loader's deprecation notices are not for users
    sys.setswitchinterval(0.0005)  # hand the GIL back to the event loop sooner than every 5 ms
    import uvloop

    try:
        uvloop.run(serve(options_from(args)))
    except ConfigError as e:
        print(f"python -m serving: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
