"""Query a TF Serving-compatible server over REST or gRPC (official stubs) and print the top classes.

python -m serving.client rest --model digits --image digit.png
python -m serving.client grpc --model digits --npy batch.npy --version 3
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from serving.config import DEFAULT_MODEL_NAME

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIGNATURE = "predict_image"  # PNG/JPEG bytes in, decoded and downsampled in the graph
IMAGE_INPUT = "image_bytes"


class ClientError(Exception):
    pass


def rest_predict(url: str, model: str, body: dict, version: int | None = None, timeout=30) -> dict:
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise ClientError(f"HTTP {e.code}: {_error_text(e)}") from e
    except urllib.error.URLError as e:
        raise ClientError(f"cannot reach {url}: {e.reason}") from e


def _error_text(e: urllib.error.HTTPError) -> str:
    raw = e.read()
    try:
        return json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace")[:200]


def grpc_predict(
    target: str, model: str, inputs: dict, signature: str, version: int | None, timeout=30
) -> dict[str, np.ndarray]:
    from serving.quiet import quiet_import_tensorflow

    quiet_import_tensorflow(init_devices=True)  # its start-up lines are not the client's output
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = version
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ClientError(f"{e.code().name}: {e.details()}") from e
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}


def read_labels(model: str, given: Path | None) -> list[str] | None:
    path = given or ROOT / "models" / "tflite" / model / "labels.txt"
    if path.exists():
        return path.read_text().splitlines()
    if given:
        raise ClientError(f"labels file not found: {given}")
    return None


def top_classes(probabilities: np.ndarray, labels: list[str] | None, k: int) -> list[str]:
    lines = []
    for i, row in enumerate(np.atleast_2d(probabilities)):
        order = np.argsort(row)[::-1][:k]
        names = [labels[j] if labels and j < len(labels) else str(j) for j in order]
        ranked = ", ".join(f"{n} {row[j]:.4f}" for n, j in zip(names, order, strict=True))
        lines.append(f"{i}: {ranked}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m serving.client", description=__doc__.splitlines()[0]
    )
    p.add_argument("protocol", choices=["rest", "grpc"])
    p.add_argument("--model", default=DEFAULT_MODEL_NAME)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="PNG or JPEG (sent as bytes to predict_image)")
    source.add_argument("--npy", type=Path, help="float32 array [N, 8, 8, 1] (serving_default)")
    p.add_argument("--version", type=int, help="a model version (default: the latest)")
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, help="default: 8501 for rest, 8500 for grpc")
    p.add_argument("--signature", help="signature name (default: by input kind)")
    p.add_argument("--top", type=int, default=3, help="classes to print per input")
    p.add_argument("--labels", type=Path, help="labels.txt (default: models/tflite/<model>/)")
    args = p.parse_args(argv)
    port = args.port or (8501 if args.protocol == "rest" else 8500)
    try:
        if args.image:
            try:
                raw = args.image.read_bytes()
            except OSError as e:
                raise ClientError(f"cannot read {args.image}: {e.strerror}") from e
            signature = args.signature or IMAGE_SIGNATURE
            inputs = {IMAGE_INPUT: np.array([raw], dtype=object)}
            rest_body = {
                "signature_name": signature,
                "instances": [{"b64": base64.b64encode(raw).decode()}],
            }
        else:
            try:
                x = np.load(args.npy).astype(np.float32)
            except (OSError, ValueError) as e:
                raise ClientError(f"cannot read {args.npy} as a .npy array: {e}") from e
            signature = args.signature or "serving_default"
            inputs = {"image": x}
            rest_body = {"signature_name": signature, "instances": x.tolist()}
        if args.protocol == "rest":
            predictions = rest_predict(
                f"http://{args.host}:{port}", args.model, rest_body, args.version
            )
            probabilities = np.asarray(predictions["predictions"], dtype=np.float32)
        else:
            outputs = grpc_predict(
                f"{args.host}:{port}", args.model, inputs, signature, args.version
            )
            probabilities = next(iter(outputs.values()))
        for line in top_classes(probabilities, read_labels(args.model, args.labels), args.top):
            print(line)
    except ClientError as e:
        print(f"python -m serving.client: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
