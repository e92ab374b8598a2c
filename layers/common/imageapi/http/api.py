"""What every function's FastAPI app shares: error bodies, auth, request logging, OpenAPI."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imageapi.core import metrics
from imageapi.core.errors import ApiError, Unauthorized
from imageapi.core.logs import configure_logging, note, request_fields, request_id
from imageapi.core.schemas import ErrorBody
from imageapi.core.settings import get_settings

from . import snapstart
from .basepath import BasePath
from .head import HeadLikeGet

log = logging.getLogger("imageapi.access")

_DESCRIPTIONS = {
    400: "Bad request (for example an invalid cursor, or a body that cannot be parsed)",
    401: "Missing or invalid bearer token (only when API_TOKENS is set)",
    404: "Not found",
    405: "Method not allowed",
    409: "Try again after Retry-After: the upload's file is not in the store yet (PUT it first), or"
    " another request for the same upload session or Idempotency-Key is still at work",
    412: "Precondition failed: If-Match or If-Unmodified-Since names an older version",
    413: "The file is larger than MAX_UPLOAD_BYTES (MAX_SESSION_UPLOAD_BYTES for upload sessions),"
    " or a JSON body larger than MAX_JSON_BODY_BYTES",
    415: "Not a JPEG, PNG, GIF, WebP, AVIF or HEIC/HEIF image, markup in it, or not multipart/form-data",
    422: "Invalid input (for example a truncated image, one whose dimensions cannot be read, or an"
    " Idempotency-Key already used for a different request)",
    429: "Too many upload sessions not completed yet (MAX_PENDING_UPLOAD_SESSIONS): retry after"
    " Retry-After seconds, or complete one first",
    500: "Internal error",
    503: "PostgreSQL or S3 is unavailable; retry after Retry-After seconds",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return (always 401, 422, 500, 503)."""
    every = {401, 422, 500, 503, *codes}
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in sorted(every)}


def create_app(*, title: str, public: bool = False) -> FastAPI:
    """public=True: no bearer token even when API_TOKENS is set (the gallery page, which holds
    no data: everything it shows comes from routes that do ask for the token)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.metrics_namespace:  # the access lines carry the metrics: written at any LOG_LEVEL
        log.setLevel(logging.INFO)
    app = FastAPI(
        title=title,
        version="1.0.0",
        dependencies=[] if public else [Depends(require_token)],
        redirect_slashes=False,
    )
    app.add_exception_handler(ApiError, _detail_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _detail_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(HeadLikeGet, routes=app.router.routes)  # innermost: the log says HEAD
    app.add_middleware(RequestLog)
    app.add_middleware(TrailingSlashInsensitive, routes=app.router.routes)
    app.add_middleware(BasePath)  # outermost: the others see the route's path under root_path
    snapstart.register(app)
    return app


class TrailingSlashInsensitive:
    """API Gateway routes /x and /x/ alike and passes the path as sent; so does every app here."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._matches(scope):
            path = scope["path"]
            other = path.rstrip("/") if path.endswith("/") else f"{path}/"
            alternative = {**scope, "path": other, "raw_path": other.encode()}
            if other and self._matches(alternative):
                scope = alternative
        await self.app(scope, receive, send)

    def _matches(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self.routes)


def bearer_token(request: Request) -> bytes | None:
    """The token of an `Authorization: Bearer ...` header; None without one."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip().encode() if scheme.lower() == "bearer" else None


async def require_token(request: Request) -> None:
    """Bearer-token check, active only when API_TOKENS is set; compares in constant time.
    Async: it does no I/O, and a sync dependency would cost a hop to a worker thread."""
    tokens = get_settings().token_list()
    if not tokens:
        return
    presented = bearer_token(request)
    valid = False
    for token in tokens:  # no early exit: timing says nothing about which token matched
        valid |= hmac.compare_digest(presented or b"", token)
    if presented is None or not valid:
        raise Unauthorized(
            "Missing or invalid bearer token", headers={"WWW-Authenticate": 'Bearer realm="images"'}
        )


def _detail_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, (ApiError, StarletteHTTPException))
    note(reason=exc.detail)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # "input" is left out: errors never echo what the client sent.
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    note(reason="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail))
    return JSONResponse({"detail": detail}, status_code=422)


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logging.getLogger("imageapi").error("unhandled error", exc_info=exc)
    note(reason=f"Internal server error ({type(exc).__name__})")
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


class RequestLog:
    """One access-log line per request, with a request id also sent back as X-Request-Id, the
    reason of an error answer, and (with METRICS_NAMESPACE) the request's metrics as EMF."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id.set(rid)
        noted: dict[str, object] = {}
        fields_token = request_fields.set(noted)
        started = time.perf_counter()
        status = 500
        logged = False

        def log_request(observed: dict[str, float]) -> None:
            nonlocal logged
            logged = True
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **noted,
            }
            namespace = get_settings().metrics_namespace
            if namespace:
                values = metrics.for_status(observed, status)
                now_ms = int(time.time() * 1000)
                fields |= metrics.embedded(
                    values, namespace=namespace, function=self.function, timestamp_ms=now_ms
                )
            log.info("request", extra={"fields": fields})

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log_request(observed)  # before the last byte goes out: the line exists once the client has it
            await send(message)

        with metrics.collecting() as observed:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if not logged:
                    log_request(observed)
                request_fields.reset(fields_token)
                request_id.reset(token)


def _request_id(scope: Scope) -> str:
    context = scope.get("aws.context")
    if context is not None and getattr(context, "aws_request_id", None):
        return str(context.aws_request_id)
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex
