"""API Gateway HTTP API (payload format 2.0) in both directions: an HTTP request becomes the
event a function receives, and the function's result becomes the HTTP response."""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.routes import FunctionRoute

# Content types API Gateway passes as text; everything else is sent base64-encoded.
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def build_v2_event(
    route: FunctionRoute,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_parameters: dict[str, str],
    source_ip: str = "127.0.0.1",
    stage: str = "$default",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends for this request: repeated headers are comma-joined, cookies
    move to their own list, and a body that is not text is base64-encoded."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = joined.get("content-type", "")
    is_text = bool(body) and content_type.startswith(_TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "domainPrefix": joined.get("host", "localhost").split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id or uuid.uuid4().hex[:16],
            "routeKey": route.route_key,
            "stage": stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": bool(body) and not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode()
    return event


class MalformedResult(ValueError):
    """A result API Gateway cannot turn into a response; it answers 500 for it, as for any
    function error."""


def response_from_result(result: Any) -> HttpResponse:
    """A function's v2 result as HTTP: statusCode, headers, multiValueHeaders, cookies, body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # API Gateway's v2 rule: anything else is a JSON body with status 200.
        return HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResult(f"statusCode {status!r} is not an HTTP status")
    headers = [(str(k), _header_value(v)) for k, v in _mapping(result, "headers").items()]
    for name, values in _mapping(result, "multiValueHeaders").items():
        if not isinstance(values, list):
            raise MalformedResult(f"multiValueHeaders[{name!r}] is not a list")
        headers.extend((str(name), _header_value(v)) for v in values)
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise MalformedResult("cookies is not a list of strings")
    headers.extend(("set-cookie", c) for c in cookies)
    raw = result.get("body") or ""
    if not isinstance(raw, str):
        raise MalformedResult("body is not a string")
    try:
        body = base64.b64decode(raw, validate=True) if result.get("isBase64Encoded") else raw.encode()
    except binascii.Error as exc:
        raise MalformedResult("body is not valid base64") from exc
    return HttpResponse(status, headers, body)


def gateway_response(
    status: int, body: dict[str, Any], headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    """An answer the gateway gives itself (no function ran), as compact JSON like API Gateway's."""
    encoded = json.dumps(body, separators=(",", ":")).encode()
    return HttpResponse(status, [("content-type", "application/json"), *headers], encoded)


def _mapping(result: dict[str, Any], key: str) -> dict[str, Any]:
    value = result.get(key) or {}
    if not isinstance(value, dict):
        raise MalformedResult(f"{key} is not an object")
    return value


def _header_value(value: Any) -> str:
    if isinstance(value, dict | list):
        raise MalformedResult("a header value is not a scalar")
    return str(value).lower() if isinstance(value, bool) else str(value)
