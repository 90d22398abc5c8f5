"""The SavedModel behind the project's model server, queried over REST and over gRPC.

One server process per SavedModel version serves both rows; it starts on free 127.0.0.1 ports
the first time either runtime needs it and stops when the verifying process exits.
"""

from __future__ import annotations

import atexit
import http.client
import json
import tempfile
from pathlib import Path

import numpy as np

from pipeline.runtimes.base import BATCH, RunOutput, Runtime, time_single_calls

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
    name = "rest"

    def run(self, path: Path, info, x: np.ndarray, latency_runs: int) -> RunOutput:
        server = _server(path, info.name)
        conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
        url = f"/v1/models/{info.name}/versions/{int(path.name)}:predict"

        def predict(batch: np.ndarray) -> np.ndarray:
            body = json.dumps({"instances": batch.tolist()})
            conn.request("POST", url, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            doc = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {doc.get('error')}")
            return np.asarray(doc["predictions"], dtype=np.float32)

        try:
            outputs = np.concatenate([predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
            p50, p99 = time_single_calls(predict, x, latency_runs)
        finally:
            conn.close()
        return RunOutput(outputs, p50, p99)


class GrpcRuntime(Runtime):
    name = "grpc"

    def run(self, path: Path, info, x: np.ndarray, latency_runs: int) -> RunOutput:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        server = _server(path, info.name)
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def predict(batch: np.ndarray) -> np.ndarray:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = info.name
                request.model_spec.version.value = int(path.name)
                request.inputs[info.input_name].CopyFrom(tf.make_tensor_proto(batch))
                response = stub.Predict(request, timeout=60)
                return tf.make_ndarray(response.outputs[info.output_name])

            outputs = np.concatenate([predict(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
            p50, p99 = time_single_calls(predict, x, latency_runs)
        return RunOutput(outputs.astype(np.float32), p50, p99)
