"""The SavedModel behind the project's model server, queried over REST and over gRPC.

One server process per SavedModel version serves both rows; it starts on free 127.0.0.1 ports
the first time either runtime needs it and stops when the verifying process exits.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import tempfile
from pathlib import Path

import numpy as np

from pipeline.runtimes.base import Arrays, RunOutput, Runtime, in_batches, time_single_calls

_servers: dict[Path, object] = {}


def _server(version_dir: Path, name: str):
    """A running server for exactly this version directory (specific version policy)."""
    from serving.process import ServerProcess

    version_dir = version_dir.resolve()
    server = _servers.get(version_dir)
    if server is not None and server.proc.poll() is None:
        return server
    config = Path(tempfile.mkdtemp(prefix="verify-serving-")) / "models.config"
    config.write_text(
        "model_config_list {\n  config {\n"
        f'    name: "{name}"\n    base_path: "{version_dir.parent}"\n'
        '    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ specific {{ versions: {int(version_dir.name)} }} }}\n"
        "  }\n}\n"
    )
    server = ServerProcess(
        [f"--model_config_file={config}", "--file_system_poll_wait_seconds=0"],
        log=config.with_name("server.log"),
    ).start()
    _servers[version_dir] = server
    atexit.register(server.stop)
    return server


class RestRuntime(Runtime):
    """TF Serving's row format: a list of instances, each a dict by input name when several."""

    name = "rest"

    def run(self, path: Path, info, inputs: Arrays, latency_runs: int) -> RunOutput:
        server = _server(path, info.name)
        conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
        url = f"/v1/models/{info.name}/versions/{int(path.name)}:predict"

        def predict(batch: Arrays) -> Arrays:
            body = json.dumps({"instances": rows(batch)})
            conn.request("POST", url, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            doc = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {doc.get('error')}")
            predictions = doc["predictions"]
            if len(info.outputs) == 1:
                return {info.output_name: np.asarray(predictions, dtype=np.float32)}
            return {
                t.name: np.asarray([p[t.name] for p in predictions], dtype=np.float32)
                for t in info.outputs
            }

        try:
            outputs = in_batches(predict, inputs)
            p50, p99 = time_single_calls(predict, inputs, latency_runs)
        finally:
            conn.close()
        return RunOutput(outputs, p50, p99)


def rows(batch: Arrays) -> list:
    """The row format's instances: plain values for one input, a dict per sample for several.

    Strings go as JSON strings; an input whose name ends in "_bytes" as {"b64": ...}, as TF
    Serving's REST API encodes binary values.
    """
    values = {k: _json(k, v) for k, v in batch.items()}
    if len(values) == 1:
        return next(iter(values.values()))
    n = len(next(iter(batch.values())))
    return [{k: v[i] for k, v in values.items()} for i in range(n)]


def _json(name: str, values: np.ndarray) -> list:
    if values.dtype != object and values.dtype.kind not in "SU":
        return values.tolist()
    binary = name.endswith("_bytes")

    def encode(v):
        raw = v if isinstance(v, bytes) else str(v).encode()
        return {"b64": base64.b64encode(raw).decode()} if binary else raw.decode()

    return np.vectorize(encode, otypes=[object])(values).tolist()


class GrpcRuntime(Runtime):
    name = "grpc"

    def run(self, path: Path, info, inputs: Arrays, latency_runs: int) -> RunOutput:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        server = _server(path, info.name)
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def predict(batch: Arrays) -> Arrays:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = info.name
                request.model_spec.version.value = int(path.name)
                for key, value in batch.items():
                    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
                response = stub.Predict(request, timeout=60)
                return {t.name: tf.make_ndarray(response.outputs[t.name]) for t in info.outputs}

            outputs = in_batches(predict, inputs)
            p50, p99 = time_single_calls(predict, inputs, latency_runs)
        return RunOutput(outputs, p50, p99)
