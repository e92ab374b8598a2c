"""Stand-in functions for the gateway's own tests: routes that exist only here, with handlers
that echo the event, return what they are told, fail or block."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.gateway import Gateway
from local.invokers import Handler, InProcessInvoker
from local.routes import FunctionRoute, RouteTable
from tests.support.servers import serve


def route(function: str, method: str, path: str, *, timeout: int = 5) -> FunctionRoute:
    return FunctionRoute(function, method, path, Path("."), "app.handler", timeout, 128)


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns the event it received (a large body left out, so the result stays under the
    response limit) and the event's size as Lambda measured it."""
    size = len(json.dumps(event).encode())
    if len(event.get("body") or "") > 1_000_000:
        event = {**event, "body": "(left out)"}
    remaining = context.get_remaining_time_in_millis()
    body = json.dumps({"event": event, "size": size, "remaining_ms": remaining})
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}


class Returns:
    """Returns a given result, whatever the event."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.calls = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.calls += 1
        return self.result


class Blocks:
    """Blocks until released (at the latest after a minute), as a hung function would."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.started.set()
        self.release.wait(60)
        return {"statusCode": 200, "body": "too late"}


def fail(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("the function broke")


@contextmanager
def gateway_for(
    functions: dict[FunctionRoute, Handler], *, integration_timeout: float = 30.0
) -> Iterator[str]:
    """The gateway over these routes and handlers, invoked in-process; yields its base URL."""
    invoker = InProcessInvoker({r.function: handler for r, handler in functions.items()})
    app = Gateway(invoker, RouteTable(list(functions)), integration_timeout=integration_timeout)
    with serve(app) as url:
        yield url
