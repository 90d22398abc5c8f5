"""The official Open Inference Protocol clients (tritonclient http and grpc, unchanged) against a
server, run in envs/oip-client (tritonclient[grpc] needs protobuf < 7, the main environment has 7):

    envs/oip-client/.venv/bin/python tests/serving/oip_client.py --rest HOST:PORT --grpc HOST:PORT \
        --model NAME --inputs in.npz --out DIR

Writes DIR/outputs.npz (each call's outputs as "<call>/<output>") and DIR/report.json (health,
metadata, and each error case's status and message), for tests/serving/test_oip.py to check.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype


def as_sent(value: np.ndarray) -> np.ndarray:
    """Strings as BYTES elements (object arrays of bytes), anything else as it is."""
    if value.dtype.kind in "SU":
        return np.vectorize(lambda s: s.encode(), otypes=[object])(value)
    return value


def tensors(module, inputs: dict[str, np.ndarray], **binary) -> list:
    """InferInputs of the client `module`; `binary_data=False` sends JSON (http only)."""
    made = []
    for name, value in inputs.items():
        tensor = module.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value, **binary)
        made.append(tensor)
    return made


def error(call) -> dict:
    try:
        call()
    except InferenceServerException as e:
        return {"status": str(e.status()), "message": e.message()}
    return {"status": "no error", "message": ""}


def check(client, module, model: str, inputs: dict, outputs: dict, tag: str) -> dict:
    """Every call of the protocol once, and its error cases; outputs go into `outputs`."""
    as_json = {"as_json": True} if tag == "grpc" else {}  # the grpc client's dict form
    report = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server": client.get_server_metadata(**as_json),
        "model": client.get_model_metadata(model, **as_json),
    }
    names = [o["name"] for o in report["model"]["outputs"]]
    calls = {tag: client.infer(model, tensors(module, inputs))}  # each client's default encoding
    one = names[-1]
    if tag == "http":
        json_out = [module.InferRequestedOutput(n, binary_data=False) for n in names]
        calls["http-json"] = client.infer(
            model, tensors(module, inputs, binary_data=False), outputs=json_out
        )
        only = [module.InferRequestedOutput(one, binary_data=False)]
    else:
        only = [module.InferRequestedOutput(one)]
    calls[f"{tag}-one"] = client.infer(model, tensors(module, inputs), outputs=only)
    for call, result in calls.items():
        for name in [one] if call.endswith("-one") else names:
            outputs[f"{call}/{name}"] = result.as_numpy(name)
    report["one_output"] = [
        o["name"] for o in calls[f"{tag}-one"].get_response(**as_json)["outputs"]
    ]

    first = next(iter(inputs))
    wrong = dict(inputs)  # FP64 where the model takes FP32, FP32 where it takes BYTES
    wrong[first] = (
        inputs[first].astype(np.float64)
        if inputs[first].dtype.kind == "f"
        else np.zeros(inputs[first].shape, np.float32)
    )
    short = tensors(module, inputs)
    short[0].set_shape([*inputs[first].shape[:-1], inputs[first].shape[-1] + 1])
    report["errors"] = {
        "unknown model": error(lambda: client.infer("no-such-model", tensors(module, inputs))),
        "wrong datatype": error(lambda: client.infer(model, tensors(module, wrong))),
        "data and shape disagree": error(lambda: client.infer(model, short)),
        "version not loaded": error(
            lambda: client.infer(model, tensors(module, inputs), model_version="999")
        ),
        "unknown output": error(
            lambda: client.infer(
                model, tensors(module, inputs), outputs=[module.InferRequestedOutput("nope")]
            )
        ),
        "unknown model metadata": error(lambda: client.get_model_metadata("no-such-model")),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with np.load(args.inputs) as f:
        inputs = {k: as_sent(f[k]) for k in f.files}
    outputs: dict[str, np.ndarray] = {}
    http = httpclient.InferenceServerClient(args.rest)
    grpc = grpcclient.InferenceServerClient(args.grpc)
    report = {
        "http": check(http, httpclient, args.model, inputs, outputs, "http"),
        "grpc": check(grpc, grpcclient, args.model, inputs, outputs, "grpc"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "outputs.npz", **outputs)
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
