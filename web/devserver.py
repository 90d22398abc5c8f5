"""A small static server for the built demo (web/dist) that proxies /v1/ to a model server.

python -m web.devserver --root web/dist --port 8080 --model-server http://127.0.0.1:8501

What `make web-dev` runs: the page and the model server's REST API on one origin, as the web
container's nginx serves them, so "compare with server" needs no CORS.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import sys
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, web

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_SERVER = "http://127.0.0.1:8501"  # TF Serving's default REST port
PROXIED = "/v1/"
mimetypes.add_type("application/wasm", ".wasm")


def make_app(root: Path, model_server: str) -> web.Application:
    root = root.resolve()
    upstream = model_server.rstrip("/")

    async def static(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"] or "index.html"
        path = (root / rel).resolve()
        if root not in path.parents and path != root:
            raise web.HTTPNotFound()
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            raise web.HTTPNotFound()
        # the page checks the model's sha256 itself (and caches it in IndexedDB): revalidate
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def proxy(request: web.Request) -> web.Response:
        url = upstream + request.rel_url.path_qs
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")
        }
        try:
            async with request.app["client"].request(
                request.method, url, data=body or None, headers=headers
            ) as r:
                payload = await r.read()
                content_type = r.headers.get("Content-Type", "application/json")
                return web.Response(
                    status=r.status, body=payload, content_type=content_type.split(";")[0]
                )
        except (ClientError, TimeoutError) as exc:
            return web.json_response(
                {"error": f"model server at {upstream} unreachable: {exc or type(exc).__name__}"},
                status=502,
            )

    async def client_ctx(app: web.Application):
        app["client"] = ClientSession(timeout=ClientTimeout(total=30))
        yield
        await app["client"].close()

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.cleanup_ctx.append(client_ctx)
    app.router.add_route("*", PROXIED + "{tail:.*}", proxy)
    app.router.add_get("/{path:.*}", static)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m web.devserver", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", type=Path, default=ROOT / "web" / "dist", help="the built page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=8080, help="the web demo's port (the web image's too)"
    )
    parser.add_argument(
        "--model-server",
        default=os.environ.get("MODEL_SERVER_URL", DEFAULT_MODEL_SERVER),
        help="REST base URL that /v1/ is proxied to (env MODEL_SERVER_URL)",
    )
    args = parser.parse_args(argv)
    if not (args.root / "index.html").is_file():
        print(f"web.devserver: no built page at {args.root}: run `make web` first", file=sys.stderr)
        return 2
    print(
        f"serving {args.root} on http://{args.host}:{args.port} "
        f"(/v1/ proxied to {args.model_server})",
        flush=True,
    )
    web.run_app(make_app(args.root, args.model_server), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
