"""The path prefix the API is published under: taken off incoming paths, put back into URLs.

Where it comes from: API_BASE_PATH when set; otherwise, on API Gateway, whatever precedes the
matched route in the path the client used. That covers a REST stage on the execute-api domain
(`requestContext.path` is `/prod/...`), a REST base-path mapping on a custom domain (`path` and
`requestContext.path` both start with `/images`), and an HTTP API named stage (`rawPath` starts
with `/prod`). An HTTP API mapping key that AWS leaves out of `rawPath` can only come from
API_BASE_PATH. The prefix travels as the ASGI root_path, so routing ignores it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from imageapi.core.settings import get_settings

_PARAMETER = re.compile(r"\{([^{}+]+)\+?\}")


class BasePath:
    """Middleware: sets root_path to the public prefix and leaves the route's path after it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):  # the dev server may have set it
            scope = with_base_path(scope)
        await self.app(scope, receive, send)


def with_base_path(scope: Scope) -> Scope:
    path: str = scope["path"]
    prefix = get_settings().base_path()
    event = scope.get("aws.event")
    if prefix:
        route_path = strip_prefix(path, prefix)
    elif event and (found := _event_split(event)):
        prefix, route_path = found
    else:
        return scope
    if not prefix:
        return scope
    full = prefix + route_path
    return {**scope, "root_path": prefix, "path": full, "raw_path": full.encode()}


def strip_prefix(path: str, prefix: str) -> str:
    """path without prefix when it starts with it; as it is otherwise (the prefix was already
    taken off, as an HTTP API mapping key is)."""
    if path == prefix:
        return "/"
    return path[len(prefix) :] if path.startswith(f"{prefix}/") else path


def _event_split(event: dict[str, Any]) -> tuple[str, str] | None:
    """(prefix, route path) of an API Gateway event, or None when the event does not say."""
    context = event.get("requestContext") or {}
    if "httpMethod" in event:  # REST (payload 1.0): requestContext.path is what the client sent
        sent = context.get("path") or event.get("path") or ""
        template = event.get("resource") or context.get("resourcePath") or ""
    else:  # HTTP API (payload 2.0)
        sent = event.get("rawPath") or ""
        template = str(event.get("routeKey") or "").partition(" ")[2]
    sent = unquote(sent).rstrip("/")
    route = _fill(template, event.get("pathParameters") or {})
    if route is not None and route.rstrip("/") and sent.endswith(route.rstrip("/")):
        return sent[: len(sent) - len(route.rstrip("/"))], route
    stage = context.get("stage")
    if "httpMethod" not in event and stage and stage != "$default":  # e.g. the $default route
        own = context.get("http", {}).get("path") or sent
        prefix = f"/{stage}"
        if own.startswith(f"{prefix}/"):
            return prefix, own[len(prefix) :]
    return None


def _fill(template: str, parameters: dict[str, str]) -> str | None:
    """The route template with its path parameters filled in; None if one is missing."""
    if not template.startswith("/"):
        return None
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        if match.group(1) not in parameters:
            missing = True
            return ""
        return str(parameters[match.group(1)])

    filled = _PARAMETER.sub(value, template)
    return None if missing else filled
