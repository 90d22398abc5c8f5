"""Query a TF Serving-compatible server over REST or gRPC (official stubs) and print each output.

python -m serving.client rest --model digits --image digit.png
python -m serving.client grpc --model digits --npy batch.npy --version 3
python -m serving.client grpc --model mine --npz samples.npz   # one array per input name
python -m serving.client grpc --target dns:///tasks.model-server:8500 --lb round_robin --npy batch.npy
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

from serving.client_io import (
    ClientError,
    Signature,
    conform,
    first_line,
    load_npz,
    npz_inputs,
    print_outputs,
    read_labels,
)
from serving.config import DEFAULT_MODEL_NAME

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIGNATURE = "predict_image"  # PNG/JPEG bytes in, decoded and downsampled in the graph
IMAGE_INPUT = "image_bytes"
DEFAULT_SIGNATURE = "serving_default"
FALLBACK_INPUT = "image"  # an --npy goes here over gRPC when the server gives no metadata
# gRPC's load-balancing policies: pick_first (its default) sends every call to one address of the
# target; round_robin connects to every address the name resolves to and takes turns per call
LB_POLICIES = ("pick_first", "round_robin")
# ---- REST (TF Serving's REST API: https://www.tensorflow.org/tfx/serving/api_rest) ----


def _model_path(model: str, version: int | None) -> str:
    return f"/v1/models/{model}" + (f"/versions/{version}" if version else "")


def _rest_call(url: str, path: str, body: dict | None = None, timeout=30) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url.rstrip("/") + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise ClientError(f"HTTP {e.code}: {_error_text(e)}") from e
    except urllib.error.URLError as e:
        raise ClientError(f"cannot reach {url}: {e.reason}") from e
    except (OSError, ValueError) as e:
        raise ClientError(f"no answer from {url}: {e}") from e


def rest_predict(url: str, model: str, body: dict, version: int | None = None, timeout=30) -> dict:
    return _rest_call(url, _model_path(model, version) + ":predict", body, timeout)


def rest_metadata(url: str, model: str, version: int | None = None, timeout=30) -> dict:
    """The SignatureDefMap of GET /v1/models/{model}[/versions/{v}]/metadata."""
    doc = _rest_call(url, _model_path(model, version) + "/metadata", None, timeout)
    try:
        return doc["metadata"]["signature_def"]
    except (KeyError, TypeError):
        raise ClientError("the server's metadata holds no signature_def") from None


def _error_text(e: urllib.error.HTTPError) -> str:
    raw = e.read()
    try:
        return json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace")[:200]


def to_json(name: str, values: np.ndarray):
    """An input as nested JSON lists. Strings go as JSON strings, and as {"b64": ...} where the
    alias ends in `_bytes` or the bytes are not UTF-8: TF Serving's REST encoding of binary."""
    if values.dtype.kind not in "OSU":
        return values.tolist()

    def encode(v):
        raw = v.encode() if isinstance(v, str) else bytes(v)
        if not name.endswith("_bytes"):
            try:
                return raw.decode()
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(raw).decode()}

    return np.frompyfunc(encode, 1, 1)(values).tolist() if values.ndim else encode(values.item())


def _from_json(value, dtype: np.dtype | None) -> np.ndarray:
    """JSON values back into an array: {"b64": ...} into bytes, numbers in the signature's dtype."""

    def decode(v):
        if isinstance(v, list):
            return [decode(x) for x in v]
        if isinstance(v, dict) and "b64" in v:
            return base64.b64decode(v["b64"])
        return v

    value = decode(value)
    if dtype is not None and dtype.kind != "O":
        return np.asarray(value, dtype=dtype)
    array = np.asarray(value)
    return array.astype(object) if array.dtype.kind in "SU" else array


def rest_outputs(doc: dict, signature: Signature | None) -> dict[str, np.ndarray]:
    """Outputs by name from a row (`predictions`) or columnar (`outputs`) answer. TF Serving
    gives a bare value when the signature has one output, a dict (per row) by name for several."""
    known = signature.outputs if signature else {}
    only = next(iter(known)) if len(known) == 1 else ""

    def several(v) -> bool:
        return isinstance(v, dict) and not (len(v) == 1 and "b64" in v) and len(known) != 1

    if "predictions" in doc:
        rows = doc["predictions"]
        if rows and all(several(r) for r in rows):
            return {n: _from_json([r[n] for r in rows], known.get(n)) for n in rows[0]}
        return {only: _from_json(rows, known.get(only))}
    outputs = doc["outputs"]
    if several(outputs):
        return {n: _from_json(v, known.get(n)) for n, v in outputs.items()}
    return {only: _from_json(outputs, known.get(only))}


# ---- gRPC (tensorflow.serving.PredictionService, through the official stubs) ----


def _grpc_modules():
    from serving.quiet import quiet_import_tensorflow

    quiet_import_tensorflow(init_devices=True)  # its start-up lines are not the client's output
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    return grpc, tf, prediction_service_pb2_grpc


def grpc_channel(target: str, lb: str | None = None):
    """A channel to a gRPC target: host:port, or a name with its resolver such as
    dns:///tasks.model-server:8500 (every replica's address). With lb round_robin, its calls take
    turns over those addresses, so one channel spreads them over DNS round-robin replicas."""
    grpc, _, _ = _grpc_modules()
    options = []
    if lb:
        config = {"loadBalancingConfig": [{lb: {}}]}
        options.append(("grpc.service_config", json.dumps(config)))
    return grpc.insecure_channel(target, options=options)


def _grpc_call(channel, method: str, request, timeout):
    grpc, _, services = _grpc_modules()
    stub = services.PredictionServiceStub(channel)
    try:
        return getattr(stub, method)(request, timeout=timeout)
    except grpc.RpcError as e:
        raise ClientError(f"{e.code().name}: {e.details()}") from e


def _model_spec(spec, model: str, version: int | None, signature: str = "") -> None:
    spec.name = model
    spec.signature_name = signature
    if version:
        spec.version.value = version


def predict_request(model: str, inputs: dict, signature: str = "", version: int | None = None):
    """A PredictRequest for `inputs` (arrays by input name)."""
    _, tf, _ = _grpc_modules()
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    _model_spec(request.model_spec, model, version, signature)
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def grpc_predict(
    channel, model: str, inputs: dict, signature: str, version: int | None, timeout=30
) -> dict[str, np.ndarray]:
    _, tf, _ = _grpc_modules()
    request = predict_request(model, inputs, signature, version)
    response = _grpc_call(channel, "Predict", request, timeout)
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}


def grpc_metadata(channel, model: str, version: int | None, timeout=30) -> dict:
    """GetModelMetadata's SignatureDefMap, as the same JSON REST's /metadata gives."""
    _grpc_modules()
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    _model_spec(request.model_spec, model, version)
    response = _grpc_call(channel, "GetModelMetadata", request, timeout)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    if not response.metadata["signature_def"].Unpack(sig_map):
        raise ClientError("the server's metadata holds no SignatureDefMap")
    return json_format.MessageToDict(sig_map, preserving_proto_field_name=True)


# ---- command line ----


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, as every other failure
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m serving.client", description=__doc__.splitlines()[0])
    p.add_argument("protocol", choices=["rest", "grpc"])
    p.add_argument("--model", default=DEFAULT_MODEL_NAME)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="PNG or JPEG (sent as bytes to predict_image)")
    source.add_argument("--npy", type=Path, help="a batch for a single-input signature")
    source.add_argument("--npz", type=Path, help="one array per input name, strings as str")
    p.add_argument("--input", help="the input an --npy feeds (default: the signature's only input)")
    p.add_argument("--version", type=int, help="a model version (default: the latest)")
    p.add_argument("--host", help="default: localhost")
    p.add_argument("--port", type=int, help="default: 8501 for rest, 8500 for grpc")
    p.add_argument(
        "--target",
        help="grpc: a gRPC target in place of --host and --port, e.g. dns:///tasks.model-server:8500",
    )
    p.add_argument(
        "--lb",
        choices=LB_POLICIES,
        help="grpc: the load-balancing policy (round_robin: calls take turns over every address "
        "the target resolves to; default: pick_first, one address)",
    )
    p.add_argument("--signature", help="signature name (default: by input kind)")
    p.add_argument("--top", type=int, default=3, help="classes to print per input")
    p.add_argument(
        "--labels",
        type=Path,
        help="class names of a single-output model (default: models/tflite/<model>/labels.txt)",
    )
    return p


class Client:
    """One server (or one gRPC target), one model (and version), over one protocol. Its gRPC calls
    share one channel: with --lb round_robin, they take turns over the target's addresses."""

    def __init__(self, args):
        port = args.port or (8501 if args.protocol == "rest" else 8500)
        host = args.host or "localhost"
        self.rest = args.protocol == "rest"
        self.address = f"http://{host}:{port}" if self.rest else args.target or f"{host}:{port}"
        self.model, self.version = args.model, args.version
        self._channel = None if self.rest else grpc_channel(self.address, args.lb)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()

    def signature(self, name: str) -> Signature:
        if self.rest:
            doc = rest_metadata(self.address, self.model, self.version)
        else:
            doc = grpc_metadata(self._channel, self.model, self.version)
        return Signature.from_map(doc, name)

    def predict(self, inputs: dict, signature: str, meta: Signature | None, rest_body: dict):
        if not self.rest:
            return grpc_predict(self._channel, self.model, inputs, signature, self.version)
        doc = rest_predict(self.address, self.model, rest_body, self.version)
        try:
            return rest_outputs(doc, meta)
        except (KeyError, TypeError, ValueError) as e:
            raise ClientError(f"unexpected answer from the server: {first_line(e)}") from None


def request_for(args, client: Client) -> tuple[dict, str, Signature | None, dict]:
    """(gRPC inputs, signature name, its metadata if known, REST body) for the chosen source."""
    if args.image:
        try:
            raw = args.image.read_bytes()
        except OSError as e:
            raise ClientError(f"cannot read {args.image}: {e.strerror}") from e
        signature = args.signature or IMAGE_SIGNATURE
        meta = _maybe(client, signature) if client.rest else None  # gRPC answers carry dtypes
        body = {"signature_name": signature, "instances": [{"b64": base64.b64encode(raw).decode()}]}
        return {IMAGE_INPUT: np.array([raw], dtype=object)}, signature, meta, body
    signature = args.signature or DEFAULT_SIGNATURE
    if args.npz:
        arrays = load_npz(args.npz)
        meta = client.signature(signature)  # the inputs the file must hold, and their dtypes
        inputs = npz_inputs(arrays, meta, args.npz)
        body = {
            "signature_name": signature,
            "inputs": {n: to_json(n, v) for n, v in inputs.items()},
        }
        return inputs, signature, meta, body
    try:
        x = np.load(args.npy, allow_pickle=False)
    except FileNotFoundError:
        raise ClientError(f"file not found: {args.npy}") from None
    except (OSError, ValueError) as e:
        raise ClientError(f"cannot read {args.npy} as a .npy array: {first_line(e)}") from e
    if not isinstance(x, np.ndarray):
        raise ClientError(f"{args.npy} is an .npz archive: give it with --npz")
    meta = _maybe(client, signature)
    name = args.input or _only_input(meta) or FALLBACK_INPUT
    dtype = meta.inputs.get(name) if meta else None
    x = conform(x, name, dtype)
    if dtype is None and x.dtype.kind == "f":  # unknown: the digits model's float32, as before
        x = x.astype(np.float32)
    if args.input:  # named: TF Serving's columnar format
        body = {"signature_name": signature, "inputs": {name: to_json(name, x)}}
    else:  # row format with bare values: the signature's only input, no name needed
        body = {"signature_name": signature, "instances": to_json(name, x)}
    return {name: x}, signature, meta, body


def _maybe(client: Client, signature: str) -> Signature | None:
    """The signature's metadata, or None where the server gives none (requests still work)."""
    try:
        return client.signature(signature)
    except ClientError:
        return None


def _only_input(meta: Signature | None) -> str | None:
    if meta is None:
        return None
    if len(meta.inputs) != 1:
        raise ClientError(
            f"signature {meta.name!r} takes {len(meta.inputs)} inputs "
            f"({', '.join(meta.inputs)}): give an --npz with one array each, or --input NAME"
        )
    return next(iter(meta.inputs))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1")
    if args.protocol == "rest" and (args.target or args.lb):
        parser.error("--target and --lb are for grpc; rest takes --host and --port")
    if args.target and (args.host or args.port):
        parser.error("--target names the server: give it, or --host and --port, not both")
    client = None
    try:
        client = Client(args)
        inputs, signature, meta, rest_body = request_for(args, client)
        outputs = client.predict(inputs, signature, meta, rest_body)
        labels = None
        if len(outputs) == 1:
            labels = read_labels(args.model, args.labels)
        elif args.labels:
            raise ClientError(
                f"--labels names the classes of a single-output model; signature "
                f"{signature!r} has outputs {', '.join(sorted(outputs))}"
            )
        print_outputs(outputs, labels, args.top)
    except ClientError as e:
        print(f"python -m serving.client: error: {e}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
