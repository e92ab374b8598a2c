"""One ASGI app serving every function of template.yaml, each through its own FastAPI app.

Run it with `make dev`: it starts PostgreSQL and S3 when none are configured, applies the
migrations and serves http://localhost:8000 (with /docs)."""

from __future__ import annotations

import argparse
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from local.routes import RouteTable, load_handler, load_routes, no_route_answer

DOCS_ASSETS = "/docs-assets/"
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def _docs_static() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@lru_cache(maxsize=4)
def _offline_redoc(assets: str) -> bytes:
    script = (_docs_static() / "redoc.standalone.js").read_bytes()
    return script.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{assets}favicon.png".encode())


class DevServer:
    """Dispatches each request to the app of the function whose route matches, as API Gateway does."""

    def __init__(self, table: RouteTable | None = None) -> None:
        self.table = table or RouteTable(load_routes())
        self.apps: dict[str, ASGIApp] = {
            route.function: load_handler(route).app for route in self.table.routes
        }
        self._openapi: dict[str, Any] | None = None
        from imageapi.http.basepath import with_base_path  # the layer is importable once a handler loaded

        self._with_base_path = with_base_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        scope = self._with_base_path(scope)  # API_BASE_PATH, as a reverse proxy would pass it on
        path = scope["path"][len(scope.get("root_path", "")) :]
        if path == "/openapi.json":
            await JSONResponse(self.openapi())(scope, receive, send)
            return
        if path in ("/docs", "/redoc") or path.startswith(DOCS_ASSETS):
            await self.docs(path, root=scope.get("root_path", ""))(scope, receive, send)
            return
        route, _, allowed = self.table.match(scope["method"], path)
        if route is not None:
            await self.apps[route.function](scope, receive, send)
            return
        status, body, headers = no_route_answer(allowed)
        await JSONResponse(body, status, dict(headers))(scope, receive, send)

    def docs(self, path: str, *, root: str) -> Any:
        """Swagger UI and ReDoc from files on this machine (fastapi-offline's copies), so /docs
        works without internet; the page's own links carry the base path."""
        assets = f"{root}{DOCS_ASSETS}"
        if path == "/docs":
            return get_swagger_ui_html(
                openapi_url=f"{root}/openapi.json",
                title="Image API",
                swagger_js_url=f"{assets}swagger-ui-bundle.js",
                swagger_css_url=f"{assets}swagger-ui.css",
                swagger_favicon_url=f"{assets}favicon.png",
            )
        if path == "/redoc":
            return get_redoc_html(
                openapi_url=f"{root}/openapi.json",
                title="Image API",
                redoc_js_url=f"{assets}redoc.standalone.js",
                redoc_favicon_url=f"{assets}favicon.png",
                with_google_fonts=False,
            )
        name = path.removeprefix(DOCS_ASSETS)
        if name not in DOCS_FILES:
            return JSONResponse({"detail": "Not Found"}, 404)
        headers = {"Cache-Control": "public, max-age=86400"}
        if name == "redoc.standalone.js":  # its "powered by" logo is the one file it fetches from a CDN
            return Response(_offline_redoc(assets), media_type="text/javascript", headers=headers)
        return FileResponse(_docs_static() / name, headers=headers)

    def openapi(self) -> dict[str, Any]:
        """The functions' OpenAPI documents merged into one."""
        if self._openapi is None:
            merged: dict[str, Any] = {
                "openapi": "3.1.0",
                "info": {"title": "Image API", "version": "1.0.0"},
                "paths": {},
                "components": {"schemas": {}},
            }
            for app in self.apps.values():
                doc = app.openapi()  # type: ignore[attr-defined]
                for path, operations in doc.get("paths", {}).items():
                    merged["paths"].setdefault(path, {}).update(operations)
                merged["components"]["schemas"].update(doc.get("components", {}).get("schemas", {}))
            self._openapi = merged
        return self._openapi


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("DEV_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEV_PORT", "8000")))
    args = parser.parse_args()

    from local.stack import local_stack

    url = f"http://localhost:{args.port}"
    heading = f"Image API on {url}  (docs: {url}/docs)"
    with local_stack(heading=heading, host=args.host, port=args.port, command="make dev") as banner:
        import uvicorn

        app = DevServer()
        print(banner, flush=True)
        # uvicorn would take X-Forwarded-Proto from any loopback client; TRUST_PROXY_HEADERS decides.
        uvicorn.run(
            app, host=args.host, port=args.port, log_level="warning", lifespan="on", proxy_headers=False
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
