"""TF Serving's REST API on aiohttp, plus /healthz, /readyz and /openapi.json as extensions.

curl localhost:8501/v1/models/digits
curl -d '{"instances": [[[[0.0], ...]]]}' localhost:8501/v1/models/digits:predict
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from urllib.parse import unquote

import grpc
from aiohttp import web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving import json_tensor
from serving.admission import Budget
from serving.errors import ServingError, invalid, unavailable
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.oip_rest import OipRest
from serving.service import METHODS, Service, Target, within_deadline

log = logging.getLogger("serving")
OPENAPI = Path(__file__).with_name("openapi.json")
# The URL grammar of TF Serving's HTTP handler: model, then an optional version or label.
# [0-9], not \d, which in Python also matches other scripts' digits (RE2's \d is ASCII).
_GET = re.compile(
    r"/v1/models(?:/(?P<name>[^/:]+))?"
    r"(?:(?:/versions/(?P<version>[0-9]+))|(?:/labels/(?P<label>[^/:]+)))?"
    r"(?P<metadata>/metadata)?"
)
_POST = re.compile(
    r"/v1/models/(?P<name>[^/:]+)"
    r"(?:(?:/versions/(?P<version>[0-9]+))|(?:/labels/(?P<label>[^/:]+)))?"
    r":(?P<verb>classify|regress|predict)"
)
_INT64_MAX = (1 << 63) - 1
# how long a body still arriving may keep its place in the request budget (serving/admission.py)
UPLOAD_GRACE_SECONDS = 1.0
_JSON = "application/json"


def _json(obj, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(obj).encode(), status=status, content_type=_JSON)


def _error(error: ServingError) -> web.Response:
    return _json({"error": error.message}, error.http_status)


def status_json(response) -> dict:
    """GetModelStatusResponse as TF Serving prints it (proto field names, defaults included)."""
    return json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class RestApi:
    def __init__(
        self,
        service: Service,
        *,
        timeout_ms: int,
        max_request_bytes: int,
        budget: Budget,
        body_seconds: float,
        cors: bool,
        metrics_path: str | None,
    ):
        self.service = service
        self.timeout = timeout_ms / 1000 if timeout_ms > 0 else None
        self.max_request_bytes = max_request_bytes
        self.budget = budget
        self.body_seconds = body_seconds  # a body must arrive within this of its headers
        self.cors = cors
        self.metrics_path = metrics_path

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_request_bytes)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/openapi.json", self.openapi)
        if self.metrics_path:
            app.router.add_get(self.metrics_path, self.metrics)
        app.router.add_route("*", "/v1{tail:.*}", self.v1)
        OipRest(self).add_routes(app)  # the Open Inference Protocol beside it, under /v2
        if self.cors:
            app.on_response_prepare.append(self._cors_headers)
        return app

    # -- TF Serving's API ------------------------------------------------------------------

    async def v1(self, request: web.Request) -> web.StreamResponse:
        # TF Serving matches the raw path with its query string: "?x=1" is a malformed request.
        path = request.raw_path
        if request.method == "POST" and (m := _POST.fullmatch(path)):
            return await self.post(request, m)
        if request.method == "GET" and (m := _GET.fullmatch(path)):
            return await self.get(m)
        if request.method == "OPTIONS":  # a CORS preflight; answered with or without the flag
            origin_ok = re.match(r"https?://", request.headers.get("Origin", ""))
            return web.Response(status=200 if origin_ok else 400)
        self.service.metrics.request("", "", "REST", "INVALID_ARGUMENT")
        return _error(invalid(f"Malformed request: {request.method} {path}"))

    async def get(self, m: re.Match) -> web.Response:
        name = unquote(m["name"] or "")
        status = "OK"
        try:
            if not name:
                raise invalid("Missing model name in request.")
            version = _version(m["version"])
            if m["metadata"]:
                label = unquote(m["label"]) if m["label"] else None
                return _json(self.metadata(Target(name, version, label)))
            return _json(status_json(self.service.manager.status(name, version)))
        except ServingError as e:
            status = e.code_name
            return _error(e)
        finally:
            self.service.metrics.request(name, "", "REST", status)

    def metadata(self, target: Target) -> dict:
        servable = self.service.resolve(target)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for name, sig in servable.signatures.items():
            sig_map.signature_def[name].CopyFrom(sig.proto)
        body = json_format.MessageToDict(
            sig_map, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        return {
            "model_spec": {
                "name": servable.name,
                "signature_name": "",
                "version": str(servable.version),
            },
            "metadata": {"signature_def": body},
        }

    async def post(self, request: web.Request, m: re.Match) -> web.Response:
        name, verb = unquote(m["name"]), m["verb"]

        def work():
            label = unquote(m["label"]) if m["label"] else None
            target = Target(name, _version(m["version"]), label)
            return lambda raw: self._handle(verb, target, json_tensor.loads(raw))

        return await self.answer_post(request, name, verb, work)

    async def answer_post(self, request: web.Request, name: str, api: str, work) -> web.Response:
        """What every POST shares (TF Serving's and the Open Inference Protocol's): refused while
        draining, its deadline, its body read within the budget, errors as {"error": message},
        and its metrics. `work()` checks the URL and returns how to answer the body's bytes: a
        JSON text or a whole response."""
        start, status = time.perf_counter(), "OK"
        try:
            if self.service.draining:
                raise unavailable("Server is shutting down")
            answer = await within_deadline(self.timeout, self._answer(request, work()))
            if isinstance(answer, web.Response):
                return answer
            return web.Response(text=answer, content_type=_JSON)
        except ServingError as e:
            status = e.code_name
            response = _error(e)
            if e.http_status == 408:  # the rest of a late body is not worth waiting for
                response.force_close()
            return response
        except TimeoutError:
            status = "DEADLINE_EXCEEDED"
            response = _json({"error": "Request timed out (--rest_api_timeout_in_ms)"}, 504)
            if not request.content.is_eof():  # its body was still arriving: not worth waiting for
                response.force_close()
            return response
        except Exception as e:  # a bug must cost one request, never the server
            log.exception("internal error answering %s", request.path)
            status = "INTERNAL"
            return _json({"error": f"Internal error: {type(e).__name__}: {e}"}, 500)
        finally:
            self.service.metrics.request(name, api, "REST", status, time.perf_counter() - start)

    async def _answer(self, request: web.Request, process):
        """Read the body within the server's budget of request bytes, then answer it."""
        size = request.content_length
        if size is not None and size > self.max_request_bytes:
            raise _too_large(size, self.max_request_bytes)
        held, reading = 0, None
        try:
            if request.content.is_eof():  # all here already (any small body): count what it is
                raw = await request.read()
                await self.budget.reserve(len(raw))
                held = len(raw)
            else:  # still arriving: wait unread until its declared size fits (chunked: the most)
                want = self.max_request_bytes if size is None else size
                await self.budget.reserve(want)
                held = want
                reading = asyncio.ensure_future(self._read(request))
                await asyncio.wait({reading}, timeout=UPLOAD_GRACE_SECONDS)
                if not reading.done():
                    # A slow upload gives its place back and queues again once its body is
                    # here, so a client that declares a large body and dawdles blocks nobody.
                    self.budget.release(held)
                    held = 0
                    await asyncio.wait({reading})
                    await self.budget.reserve(len(reading.result()))
                    held = len(reading.result())
                raw = reading.result()
            return await process(raw)
        finally:
            if reading is not None:
                reading.cancel()  # a no-op once done; the request's deadline may have passed
            if held:
                self.budget.release(held)

    async def _read(self, request: web.Request) -> bytes:
        try:
            return await within_deadline(self.body_seconds, request.read())
        except web.HTTPRequestEntityTooLarge as e:
            raise _too_large(None, self.max_request_bytes) from e
        except TimeoutError:
            raise ServingError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"Request body not received within {self.body_seconds:g} s of its headers "
                "(--idle_timeout_seconds)",
                http=408,
            ) from None

    async def _handle(self, verb: str, target: Target, body) -> str:
        if not isinstance(body, dict):
            raise invalid(f"JSON Value: {json_tensor.debug(body)} Is not object")
        signature_name = body.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise invalid(
                f"JSON Value: {json_tensor.debug(body)} not formatted correctly. 'signature_name' "
                "key must be a string value."
            )
        servable = self.service.resolve(target)
        if verb == "predict":
            sig = self.service.signature(servable, signature_name)
            inputs, fmt = json_tensor.parse_predict(body, sig)
            result = await self.service.predict(servable, sig, inputs)
            return json_tensor.format_predict(result.outputs, fmt)
        servable.example_signature(signature_name, METHODS[verb])  # checked before parsing
        examples = json_tensor.parse_examples(body, verb)
        result = await self.service.run_examples(servable, METHODS[verb], signature_name, examples)
        if verb == "classify":
            return json_tensor.format_classify(result.outputs)
        return json_tensor.format_regress(result.outputs["outputs"])

    # -- extensions -------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        ok, missing = self.service.manager.ready()
        if self.service.draining:
            return _json({"status": "shutting down"}, 503)
        if not ok:
            return _json({"status": "not ready", "models_without_available_version": missing}, 503)
        return _json({"status": "ready"})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=OPENAPI.read_bytes(), content_type="application/json")

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.service.metrics.render(), headers={"Content-Type": METRICS_CONTENT_TYPE}
        )

    async def _cors_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """--rest_api_enable_cors_support: the same three headers on every /v1 and /v2 response."""
        if request.path.startswith(("/v1", "/v2")):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Methods"] = "POST, GET"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"


def _version(text: str | None) -> int | None:
    """A URL's version as TF Serving reads it (http_rest_api_util.cc: absl::SimpleAtoi, int64)."""
    if not text:
        return None
    digits = text.lstrip("0") or "0"  # leading zeros are fine; int() refuses 4,300+ digits
    if len(digits) > 19 or int(digits) > _INT64_MAX:
        raise invalid(f"Failed to convert version: {text} to numeric.")
    return int(digits)


def _too_large(size: int | None, limit: int) -> ServingError:
    got = f"{size} bytes" if size is not None else "more"
    return ServingError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"Request body is too large: {got}, the limit is {limit} bytes (--max_request_bytes)",
        http=413,
    )
