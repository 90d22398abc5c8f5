"""The server's configuration files, read with protobuf's text format as TF Serving reads them.

model_config_list comes from the tensorflow-serving-api protos. BatchingParameters and
MonitoringConfig are not in that package, so their schemas are declared here with the same field
names and numbers as tensorflow_serving's session_bundle_config.proto and monitoring_config.proto.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from serving.batching import BatchingParameters


class ConfigError(Exception):
    """A configuration file or flag is wrong: the server does not start (or reload)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    base_path: Path
    policy: str = "latest"  # latest | all | specific
    num_versions: int = 1  # for latest
    versions: tuple[int, ...] = ()  # for specific
    labels: dict[str, int] = field(default_factory=dict)


def _schemas():
    """Build the two message classes from a FileDescriptorProto (no generated code needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="serving_local_config.proto",
        package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    f = descriptor_pb2.FieldDescriptorProto
    wrapper = {"i": ".google.protobuf.Int64Value", "s": ".google.protobuf.StringValue"}

    def add(msg, name, number, kind, type_name="", repeated=False):
        added = msg.field.add(
            name=name,
            number=number,
            type=kind,
            label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL,
        )
        if type_name:
            added.type_name = type_name

    batching = fdp.message_type.add(name="BatchingParameters")
    add(batching, "max_batch_size", 1, f.TYPE_MESSAGE, wrapper["i"])
    add(batching, "batch_timeout_micros", 2, f.TYPE_MESSAGE, wrapper["i"])
    add(batching, "max_enqueued_batches", 3, f.TYPE_MESSAGE, wrapper["i"])
    add(batching, "num_batch_threads", 4, f.TYPE_MESSAGE, wrapper["i"])
    add(batching, "thread_pool_name", 5, f.TYPE_MESSAGE, wrapper["s"])
    add(batching, "allowed_batch_sizes", 6, f.TYPE_INT64, repeated=True)
    add(batching, "pad_variable_length_inputs", 7, f.TYPE_BOOL)
    add(batching, "enable_large_batch_splitting", 8, f.TYPE_MESSAGE, ".google.protobuf.BoolValue")
    add(batching, "max_execution_batch_size", 9, f.TYPE_MESSAGE, wrapper["i"])

    prometheus = fdp.message_type.add(name="PrometheusConfig")
    add(prometheus, "enable", 1, f.TYPE_BOOL)
    add(prometheus, "path", 2, f.TYPE_STRING)
    monitoring = fdp.message_type.add(name="MonitoringConfig")
    add(monitoring, "prometheus_config", 1, f.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(
        descriptor_pb2.FileDescriptorProto.FromString(
            wrappers_pb2.DESCRIPTOR.serialized_pb
        ).SerializeToString()
    )
    pool.Add(fdp)
    get = message_factory.GetMessageClass
    return (
        get(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")),
        get(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")),
    )


BatchingParametersProto, MonitoringConfigProto = _schemas()
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"
# The model name the client asks for by default: it matches the pipeline's default model name
# and the MODEL_NAME the server image serves. The server's own --model_name defaults to
# "default", as tensorflow_model_server's does.
DEFAULT_MODEL_NAME = "digits"


def _parse(path: Path, message):
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as e:
        raise ConfigError(f"{path}: {e}") from e


def read_batching_parameters(path: Path | None, cores: int) -> BatchingParameters:
    if path is None:
        return BatchingParameters(num_batch_threads=cores)
    p = _parse(path, BatchingParametersProto())
    for unsupported in ("pad_variable_length_inputs", "enable_large_batch_splitting"):
        value = getattr(p, unsupported)
        if value if isinstance(value, bool) else value.value:
            raise ConfigError(f"{path}: {unsupported} is not supported by this server")

    def value(name, default):
        return getattr(p, name).value if p.HasField(name) else default

    params = BatchingParameters(
        max_batch_size=value("max_batch_size", 1000),
        batch_timeout_micros=value("batch_timeout_micros", 0),
        max_enqueued_batches=value("max_enqueued_batches", 10),
        num_batch_threads=value("num_batch_threads", cores),
        allowed_batch_sizes=tuple(p.allowed_batch_sizes),
    )
    if min(params.max_batch_size, params.max_enqueued_batches, params.num_batch_threads) < 1:
        raise ConfigError(f"{path}: batch sizes, queue length and thread count must be positive")
    sizes = params.allowed_batch_sizes
    if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != params.max_batch_size):
        raise ConfigError(
            f"{path}: allowed_batch_sizes must increase and end with max_batch_size "
            f"({params.max_batch_size})"
        )
    return params


def read_metrics_path(path: Path | None) -> str | None:
    """The Prometheus path when the monitoring config enables it, else None."""
    if path is None:
        return None
    config = _parse(path, MonitoringConfigProto()).prometheus_config
    if not config.enable:
        return None
    metrics_path = config.path or DEFAULT_METRICS_PATH
    if not metrics_path.startswith("/"):
        raise ConfigError(f"{path}: prometheus_config.path must start with '/'")
    return metrics_path


def read_model_config_file(path: Path) -> list[ModelSpec]:
    return model_specs(_parse(path, model_server_config_pb2.ModelServerConfig()), str(path))


def model_specs(config, where: str = "config") -> list[ModelSpec]:
    """ModelSpecs from a ModelServerConfig proto (a file or a ReloadConfigRequest)."""
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(
            f"{where}: ServerModelConfig type not supported. Only ModelConfigList is currently "
            "supported"
        )
    specs, seen = [], set()
    for c in config.model_config_list.config:
        if not c.name or not c.base_path:
            raise ConfigError(f"{where}: every model needs a name and a base_path")
        if c.name in seen:
            raise ConfigError(f"Illegal to list model {c.name} multiple times in config list")
        if not c.model_platform and not c.model_type:
            raise ConfigError(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                f"ModelServerConfig::model_platform, model name is {c.name}"
            )
        if c.model_platform and c.model_platform != "tensorflow":
            raise ConfigError(f"Model {c.name} requests unsupported platform {c.model_platform}")
        if not Path(c.base_path).is_absolute():
            raise ConfigError(
                f"Expected model {c.name} to have an absolute path or URI; "
                f"got base_path()={c.base_path}"
            )
        seen.add(c.name)
        policy = c.model_version_policy.WhichOneof("policy_choice") or "latest"
        num = c.model_version_policy.latest.num_versions or 1
        versions = tuple(sorted(c.model_version_policy.specific.versions))
        if policy == "specific" and not versions:
            raise ConfigError(f"{where}: model {c.name} has a specific policy with no versions")
        specs.append(
            ModelSpec(c.name, Path(c.base_path), policy, num, versions, dict(c.version_labels))
        )
    return specs
