"""The ways a test can reach the API, all answering with the same HttpResponse:
real HTTP to a server (the dev server, the gateway emulator), or a handler invoked with the
API Gateway v2 event that the request would have become."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from local.apigw import HttpResponse, build_v2_event, response_from_result
from local.routes import RouteTable, load_handler, load_routes

# What a response must never show: storage keys, S3 endpoints, tracebacks, SQL, library names.
_LEAKS = re.compile(
    r"(?<!/api/v1/)images/[0-9a-f-]{36}|s3\.amazonaws|Traceback|File \"|psycopg|botocore"
    r"|\bSELECT\b|\bINSERT INTO\b|\bFROM images\b",
)
# The deliberate exposures: a presigned URL (an upload session's PUT, a large download's 307).
_PRESIGNED_URL = re.compile(r"https?://[^\s\"'<>]*X-Amz-Signature=[0-9a-f]{64}")
# And where those URLs point: the gallery's Content-Security-Policy lets the page connect there.
_POLICY_BUCKET = re.compile(r"(connect-src 'self') https?://[^\s;']+")


def assert_nothing_leaks(response: HttpResponse) -> HttpResponse:
    """Checked on every response any test receives."""
    if (response.header("content-type") or "").startswith("image/"):
        return response  # the image's own bytes
    text = response.body.decode("utf-8", "replace") + repr(response.headers)
    text = _PRESIGNED_URL.sub("<presigned URL>", text)
    text = _POLICY_BUCKET.sub(r"\1 <bucket origin>", text)
    found = _LEAKS.search(text)
    assert found is None, f"response leaks {found.group(0)!r}: {text[:300]}"
    for name in ("S3_BUCKET", "S3_ENDPOINT_URL"):
        value = os.environ.get(name)
        assert not value or value not in text, f"response leaks {name}"
    return response


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
        return assert_nothing_leaks(
            HttpResponse(response.status_code, list(response.headers.multi_items()), response.content)
        )


class EventTarget:
    """The handler itself, called with a v2 event as API Gateway would build it."""

    name = "events"
    host = "abc123.execute-api.us-east-1.amazonaws.com"

    table = RouteTable(load_routes())  # template.yaml, read once for every test

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
        return assert_nothing_leaks(response_from_result(load_handler(route)(event, LambdaContext())))


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that the code reads."""

    function_name: str = "test"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_stream_name: str = "test"
    memory_limit_in_mb: int = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
