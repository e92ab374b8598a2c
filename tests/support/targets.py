"""The ways a test can reach the API, all answering with the same HttpResponse:
real HTTP to a server (the dev server, the gateway emulator), or a handler invoked with the
API Gateway v2 event that the request would have become."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from local.apigw import HttpResponse, build_v2_event, response_from_result
from local.routes import RouteTable, load_handler, load_routes


class Target(Protocol):
    name: str

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> HttpResponse: ...


@dataclass
class HttpTarget:
    """Real HTTP over loopback."""

    name: str
    base_url: str

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> HttpResponse:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            response = client.request(method, url, headers=headers, content=body)
        return HttpResponse(response.status_code, list(response.headers.multi_items()), response.content)


class EventTarget:
    """The handler itself, called with a v2 event as API Gateway would build it."""

    name = "events"
    host = "abc123.execute-api.us-east-1.amazonaws.com"

    def __init__(self) -> None:
        self.table = RouteTable(load_routes())

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> HttpResponse:
        parts = urlsplit(url)
        route, params, allowed = self.table.match(method, parts.path)
        if route is None:  # no function is invoked: the gateway answers
            raise LookupError(f"no route for {method} {parts.path} (allowed: {allowed})")
        sent = [("host", self.host), ("x-forwarded-proto", "https"), *(headers or {}).items()]
        event = build_v2_event(
            route,
            method=method,
            raw_path=parts.path,
            raw_query=parts.query,
            headers=sent,
            body=body,
            path_parameters=params,
        )
        return response_from_result(load_handler(route)(event, LambdaContext()))


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that the code reads."""

    function_name: str = "test"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_stream_name: str = "test"
    memory_limit_in_mb: int = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
