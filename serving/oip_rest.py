"""The Open Inference Protocol's REST API (KServe V2) on the REST port, beside TF Serving's /v1.

GET  /v2                                      server metadata
GET  /v2/health/live, /v2/health/ready        200 when true, 400 when not (empty bodies)
GET  /v2/models/{m}[/versions/{v}]            model metadata
GET  /v2/models/{m}[/versions/{v}]/ready      200 when ready, 400 when not
POST /v2/models/{m}[/versions/{v}]/infer      inference; errors as {"error": message}

The binary tensor extension: a body whose JSON part is `Inference-Header-Content-Length` bytes
long, followed by the raw data of each input that gives `parameters.binary_data_size`; outputs
asked for with `binary_data` (or every output, with the request's `binary_data_output`) come back
the same way. tritonclient's http client uses it by default.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from aiohttp import web

from serving import oip
from serving.errors import ServingError, invalid

HEADER_LENGTH = "Inference-Header-Content-Length"


def _json(obj, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj).encode(), status=status, content_type="application/json"
    )


def _flag(status: bool) -> web.Response:
    return web.Response(status=200 if status else 400)


class OipRest:
    """Routes under /v2; inference shares the REST API's body budget, deadline and metrics."""

    def __init__(self, rest):
        self.rest = rest  # serving.rest.RestApi
        self.service = rest.service

    def add_routes(self, app: web.Application) -> None:
        get, post = app.router.add_get, app.router.add_post
        get("/v2", self.server_metadata)
        get("/v2/health/live", self.live)
        get("/v2/health/ready", self.ready)
        for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            get(base, self.model_metadata)
            get(base + "/ready", self.model_ready)
            post(base + "/infer", self.infer)
        app.router.add_route("*", "/v2/{tail:.*}", self.malformed)

    async def server_metadata(self, request: web.Request) -> web.Response:
        return _json(
            {"name": oip.SERVER_NAME, "version": oip.SERVER_VERSION, "extensions": oip.EXTENSIONS}
        )

    async def live(self, request: web.Request) -> web.Response:
        return _flag(True)

    async def ready(self, request: web.Request) -> web.Response:
        return _flag(oip.server_ready(self.service))

    def _target(self, request: web.Request):
        info = request.match_info
        return oip.target(unquote(info["name"]), info.get("version"))

    async def model_metadata(self, request: web.Request) -> web.Response:
        name, status = request.match_info["name"], "OK"
        try:
            return _json(oip.model_metadata(self.service, self._target(request)))
        except ServingError as e:
            status = e.code_name
            return _json({"error": e.message}, e.http_status)
        finally:
            self.service.metrics.request(name, "", "REST", status)

    async def model_ready(self, request: web.Request) -> web.Response:
        try:
            return _flag(oip.model_ready(self.service, self._target(request)))
        except ServingError as e:
            return _json({"error": e.message}, e.http_status)

    async def malformed(self, request: web.Request) -> web.Response:
        return _json({"error": f"Malformed request: {request.method} {request.path}"}, 400)

    async def infer(self, request: web.Request) -> web.Response:
        name = unquote(request.match_info["name"])

        def work():
            # an unknown model or version is answered before its body is read
            servable = self.service.resolve(self._target(request))
            header = request.headers.get(HEADER_LENGTH)
            return lambda raw: self._infer(servable, raw, header)

        return await self.rest.answer_post(request, name, "infer", work)

    async def _infer(self, servable, raw: bytes, header: str | None) -> web.Response:
        body, binary = _split(raw, header)
        inputs, requested, binary_out = _parse(body, binary)
        result = await oip.infer(
            self.service, servable, inputs, [r for r, _ in requested], body.get("parameters") or {}
        )
        doc = {"model_name": result.servable.name, "model_version": str(result.servable.version)}
        if "id" in body:
            doc["id"] = body["id"]
        chosen = requested or [(k, None) for k in sorted(result.outputs)]
        tails, outputs = [], []
        for key, wants_binary in chosen:
            array = result.outputs[key]
            entry = {
                "name": key,
                "datatype": oip.datatype_of(array.dtype),
                "shape": list(array.shape),
            }
            if wants_binary if wants_binary is not None else binary_out:
                data = oip.to_raw(array)
                entry["parameters"] = {"binary_data_size": len(data)}
                tails.append(data)
            else:
                entry["data"] = oip.to_list(array)
            outputs.append(entry)
        doc["outputs"] = outputs
        head = json.dumps(doc).encode()
        if not tails:
            return web.Response(body=head, content_type="application/json")
        return web.Response(
            body=b"".join([head, *tails]),
            headers={HEADER_LENGTH: str(len(head)), "Content-Type": "application/octet-stream"},
        )


def _split(raw: bytes, header: str | None) -> tuple[dict, memoryview]:
    """The JSON part of a body and the binary data after it (the binary extension)."""
    size = len(raw)
    if header is not None:
        if not header.isascii() or not header.isdigit() or int(header) > size:
            raise invalid(
                f"{HEADER_LENGTH}: {header!r} is not a length within the body's {size} bytes"
            )
        size = int(header)
    try:
        body = json.loads(bytes(raw[:size]))
    except (UnicodeDecodeError, ValueError) as e:
        raise invalid(f"the request is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise invalid("the request must be a JSON object")
    return body, memoryview(raw)[size:]


def _parse(body: dict, binary: memoryview):
    """The inputs as arrays; the requested outputs (name, binary or None); binary_data_output."""
    entries = body.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise invalid("the request has no inputs: 'inputs' must be a non-empty list")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid("'parameters' must be an object")
    inputs, at = {}, 0
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise invalid("each input must be an object with a 'name'")
        name = entry["name"]
        if name in inputs:
            raise invalid(f"input '{name}' is given twice")
        size = (entry.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or at + size > len(binary):
                raise invalid(
                    f"input '{name}': binary_data_size {size!r} runs past the body's binary data"
                )
            inputs[name] = oip.from_raw(
                name, entry.get("datatype"), entry.get("shape"), binary[at : at + size]
            )
            at += size
        elif "data" in entry:
            inputs[name] = oip.from_list(
                name, entry.get("datatype"), entry.get("shape"), entry["data"]
            )
        else:
            raise invalid(f"input '{name}' has neither 'data' nor parameters.binary_data_size")
    if at != len(binary):
        raise invalid(f"{len(binary) - at} bytes of binary data belong to no input")
    requested = []
    for entry in body.get("outputs") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise invalid("each requested output must be an object with a 'name'")
        wants = (entry.get("parameters") or {}).get("binary_data")
        requested.append((entry["name"], None if wants is None else bool(wants)))
    return inputs, requested, bool(parameters.get("binary_data_output", False))
