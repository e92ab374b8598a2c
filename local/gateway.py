"""An emulator of API Gateway's HTTP API in front of the functions of template.yaml.

Each request is matched against the template's routes, becomes the payload-format-2.0 event the
function would receive, is checked against Lambda's limits, invoked, and its result turned back
into HTTP, with one JSON access-log line. `make gateway` runs it on the host with the functions
in this process, over the stack `make dev` uses; in docker compose it invokes each function's
container through the Runtime Interface Emulator (GATEWAY_FUNCTION_URLS)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local.apigw import HttpResponse, MalformedResult, build_v2_event, gateway_response, response_from_result
from local.invokers import EmulatorInvoker, FunctionError, InProcessInvoker, Invoker, parse_function_urls
from local.limits import (
    FUNCTION_ERROR,
    INTEGRATION_TIMED_OUT,
    INTEGRATION_TIMEOUT,
    REQUEST_PAYLOAD_LIMIT,
    REQUEST_TOO_LARGE,
    RESPONSE_PAYLOAD_LIMIT,
)
from local.ports import refuse_taken_port
from local.routes import FunctionRoute, RouteTable, load_routes, no_route_answer

if TYPE_CHECKING:  # the gateway's image has no Starlette; only the types come from it
    from starlette.types import Receive, Scope, Send

access_log = logging.getLogger("local.gateway.access")

# Hop-by-hop headers are the connection's, not the function's; the length is recomputed.
_DROPPED = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
_BODILESS = {204, 304}  # no Content-Length: there is no body, and a 304's would describe the 200's


class ClientGone(Exception):
    """The client disconnected before its request was complete."""


@dataclass
class Outcome:
    """What one request came to, for the response and the access log."""

    response: HttpResponse
    route: FunctionRoute | None = None
    integration_ms: float | None = None
    error: str | None = None


class Gateway:
    """The ASGI app: routes, limits and invocation as an HTTP API would apply them."""

    def __init__(
        self,
        invoker: Invoker,
        table: RouteTable | None = None,
        *,
        integration_timeout: float = INTEGRATION_TIMEOUT,
    ) -> None:
        self.invoker = invoker
        self.table = table or RouteTable(load_routes())
        self.integration_timeout = integration_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.invoker.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = _request_id()
        try:
            outcome = await self._handle(scope, receive, request_id)
        except ClientGone:
            return
        head = scope["method"] == "HEAD"
        encoded = _encode_headers(outcome.response, request_id, head=head)
        if encoded is None:
            outcome = Outcome(gateway_error(FUNCTION_ERROR), outcome.route, error="a header is not latin-1")
            encoded = _encode_headers(outcome.response, request_id, head=head) or []
        # Logged before sending, so the line exists by the time the client has its answer.
        _log_access(scope, request_id, outcome, started)
        response = outcome.response
        await send({"type": "http.response.start", "status": response.status, "headers": encoded})
        await send({"type": "http.response.body", "body": response.body})

    async def _handle(self, scope: Scope, receive: Receive, request_id: str) -> Outcome:
        scope = _under_mapping_key(scope)
        route, params, allowed = self.table.match(scope["method"], scope["path"])
        body = await _read_body(receive, limit=REQUEST_PAYLOAD_LIMIT)
        if route is None:
            return Outcome(gateway_response(*no_route_answer(allowed)))
        if body is None:
            return Outcome(gateway_error(REQUEST_TOO_LARGE), route, error="request body over the limit")
        event = build_v2_event(
            route,
            method=scope["method"],
            raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=_forwarded_headers(scope),
            body=body,
            path_parameters=params,
            source_ip=_client_ip(scope),
            request_id=request_id,
        )
        payload = json.dumps(event).encode()
        if len(payload) >= REQUEST_PAYLOAD_LIMIT:
            error = f"Request must be smaller than {REQUEST_PAYLOAD_LIMIT} bytes, was {len(payload)}"
            return Outcome(gateway_error(REQUEST_TOO_LARGE), route, error=error)
        return await self._integrate(route, payload)

    async def _integrate(self, route: FunctionRoute, payload: bytes) -> Outcome:
        started = time.perf_counter()

        def outcome(response: HttpResponse, error: str | None = None) -> Outcome:
            return Outcome(response, route, (time.perf_counter() - started) * 1000, error)

        # Lambda stops the function at its Timeout (a function error); the HTTP API gives up at
        # its integration timeout (503), whichever comes first. The invoker counts the time from
        # when the function starts, not from when the request began waiting for an instance.
        limit = min(route.timeout, self.integration_timeout)
        try:
            raw = await self.invoker.invoke(route, payload, timeout=limit)
        except TimeoutError:
            if route.timeout <= self.integration_timeout:
                return outcome(gateway_error(FUNCTION_ERROR), f"Task timed out after {route.timeout} seconds")
            return outcome(gateway_error(INTEGRATION_TIMED_OUT), "integration timed out")
        except FunctionError as exc:
            return outcome(gateway_error(FUNCTION_ERROR), str(exc))
        if len(raw) > RESPONSE_PAYLOAD_LIMIT:
            limit_text = f"maximum allowed payload size ({RESPONSE_PAYLOAD_LIMIT} bytes)"
            return outcome(gateway_error(FUNCTION_ERROR), f"Response payload size exceeded {limit_text}")
        try:
            return outcome(response_from_result(json.loads(raw)))
        except (ValueError, MalformedResult) as exc:
            return outcome(gateway_error(FUNCTION_ERROR), f"malformed Lambda result: {exc}")


def gateway_error(status_and_message: tuple[int, str]) -> HttpResponse:
    status, message = status_and_message
    return gateway_response(status, {"message": message})


def _encode_headers(
    response: HttpResponse, request_id: str, *, head: bool = False
) -> list[tuple[bytes, bytes]] | None:
    """The function's headers as sent on the wire, plus API Gateway's own; None if one cannot
    be sent (not latin-1). A HEAD answer keeps the function's Content-Length: the GET's."""
    dropped = _DROPPED - {"content-length"} if head else _DROPPED
    headers = [(k, v) for k, v in response.headers if k.lower() not in dropped]
    if response.status not in _BODILESS and not head:
        headers.append(("content-length", str(len(response.body))))
    headers.append(("apigw-requestid", request_id))
    try:
        return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    except UnicodeEncodeError:
        return None


async def _read_body(receive: Receive, *, limit: int) -> bytes | None:
    """The whole body, or None once it is over limit (read to the end all the same, so the
    client sees the answer rather than a reset connection)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if size <= limit else None


def _under_mapping_key(scope: Scope) -> Scope:
    """With API_BASE_PATH, the emulator plays a custom domain whose API mapping key it is: the
    key is taken off before routing and left out of rawPath, as AWS does. Read per request, so
    tests can change it."""
    key = (os.environ.get("API_BASE_PATH") or "").rstrip("/")
    path: str = scope["path"]
    if not key or not (path == key or path.startswith(f"{key}/")):
        return scope
    rest = path[len(key) :] or "/"
    raw = (scope.get("raw_path") or path.encode())[len(key.encode()) :] or b"/"
    return {**scope, "path": rest, "raw_path": raw}


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "127.0.0.1"


def _forwarded_headers(scope: Scope) -> list[tuple[str, str]]:
    """The request's headers plus the X-Forwarded-* ones API Gateway adds for the function.
    Like API Gateway, it sets X-Forwarded-Proto and -Port itself: a client's own are dropped."""
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k.lower() not in (b"x-forwarded-proto", b"x-forwarded-port")
    ]
    added = [("x-forwarded-for", _client_ip(scope)), ("x-forwarded-proto", scope.get("scheme", "http"))]
    server = scope.get("server")
    if server and server[1] is not None:
        added.append(("x-forwarded-port", str(server[1])))
    return headers + added


def _request_id() -> str:
    """Shaped like API Gateway's: 16 characters, unique per request."""
    return uuid.uuid4().hex[:16]


def _log_access(scope: Scope, request_id: str, outcome: Outcome, started: float) -> None:
    """One line per request, with the fields of an HTTP API's JSON access log."""
    entry: dict[str, Any] = {
        "requestId": request_id,
        "ip": _client_ip(scope),
        "requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "httpMethod": scope["method"],
        "routeKey": outcome.route.route_key if outcome.route else "-",
        "path": scope["path"],
        "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
        "status": outcome.response.status,
        "responseLength": len(outcome.response.body),
        "integrationLatency": None if outcome.integration_ms is None else round(outcome.integration_ms, 2),
        "responseLatency": round((time.perf_counter() - started) * 1000, 2),
        "integrationErrorMessage": outcome.error,
    }
    access_log.info(json.dumps(entry))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("DEV_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEV_PORT", "8000")))
    args = parser.parse_args()
    handler = logging.StreamHandler(sys.stdout)
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False

    import uvicorn

    from local.environment import apply_template_environment

    applied = apply_template_environment()  # as `sam local` does; the shell's own values win
    if applied:
        print("From template.yaml: " + ", ".join(f"{k}={v}" for k, v in sorted(applied.items())), flush=True)
    routes = load_routes()
    urls = parse_function_urls(os.environ.get("GATEWAY_FUNCTION_URLS", ""))
    if urls:  # docker compose: every function in its own container
        invoker = EmulatorInvoker(urls)
        if missing := invoker.missing(routes):
            parser.error(f"GATEWAY_FUNCTION_URLS has no URL for {', '.join(missing)}")
        refuse_taken_port(args.host, args.port, command="make gateway")
        print(f"API Gateway emulator on port {args.port}, invoking {', '.join(sorted(urls))}", flush=True)
        gateway = Gateway(invoker, RouteTable(routes))
        uvicorn.run(gateway, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
        return 0

    from local.stack import local_stack

    heading = f"Image API on http://localhost:{args.port}  (API Gateway emulator)"
    with local_stack(heading=heading, host=args.host, port=args.port, command="make gateway") as banner:
        app = Gateway(InProcessInvoker.for_routes(routes), RouteTable(routes))
        print(banner, flush=True)
        # Like API Gateway, the emulator sets X-Forwarded-* itself: uvicorn must not take a client's.
        uvicorn.run(
            app, host=args.host, port=args.port, log_level="warning", lifespan="on", proxy_headers=False
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
