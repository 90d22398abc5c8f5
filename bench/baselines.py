"""The servers bench-serving measures the model server against, on the same stacks it runs on.

python -m bench.baselines floor --port 9000                   # parse the body, send a canned reply
python -m bench.baselines naive --port 9001 --keras m.keras   # Keras model.predict per request
python -m bench.baselines grpc-floor --port 9002 --reply r.bin
    # grpc.aio + uvloop: parse each PredictRequest, answer the serialized PredictResponse r.bin
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import uvloop
from aiohttp import web

from serving.quiet import quiet_import_tensorflow

# What the model server answers for one digit, so the floor sends a reply of the same size.
CANNED = json.dumps({"predictions": [[0.0001] * 9 + [0.9991]]}).encode()


def floor_app() -> web.Application:
    """The HTTP floor: aiohttp + uvloop reading and parsing the JSON body, no model at all."""

    async def predict(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(body=CANNED, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/models/{name}:predict", predict)
    return app


def naive_app(keras_path: str) -> web.Application:
    """What a first attempt looks like: model.predict on every request, in the handler."""
    quiet_import_tensorflow(init_devices=True)
    import keras

    model = keras.saving.load_model(keras_path)

    async def predict(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        x = np.asarray(body["instances"], dtype=np.float32)
        y = model.predict(x, verbose=0)
        return web.json_response({"predictions": y.tolist()})

    app = web.Application()
    app.router.add_post("/v1/models/{name}:predict", predict)
    return app


async def grpc_floor(port: int, reply: bytes) -> None:
    """The gRPC floor: the model server's gRPC stack (grpc.aio on uvloop, the same server options
    and a generic handler, as serving/grpc_service.py registers Predict) parsing each
    PredictRequest and answering a canned PredictResponse, no model at all."""
    import grpc
    from tensorflow_serving.apis import predict_pb2

    async def predict(request, context) -> bytes:
        return reply

    handler = grpc.unary_unary_rpc_method_handler(
        predict, request_deserializer=predict_pb2.PredictRequest.FromString
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "tensorflow.serving.PredictionService", {"Predict": handler}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.baselines", description=__doc__.splitlines()[0]
    )
    p.add_argument("kind", choices=["floor", "naive", "grpc-floor"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--keras", help="model.keras (naive)")
    p.add_argument("--reply", help="a serialized PredictResponse (grpc-floor)")
    args = p.parse_args()
    if args.kind == "grpc-floor":
        with open(args.reply, "rb") as f:
            uvloop.run(grpc_floor(args.port, f.read()))
        return
    app = floor_app() if args.kind == "floor" else naive_app(args.keras)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()  # until the benchmark terminates the process

    uvloop.run(serve())


if __name__ == "__main__":
    main()
