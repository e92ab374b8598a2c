"""The gateway emulator as a test target: its ASGI app under uvicorn on a loopback port, with
the functions invoked in this process (host mode, as `make gateway` runs it)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from local.gateway import Gateway
from local.invokers import InProcessInvoker
from local.routes import RouteTable, load_routes


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Any ASGI app under uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def gateway_server(services: dict[str, str]) -> Iterator[str]:
    """The gateway in host mode over the session's PostgreSQL and S3; yields its base URL."""
    routes = load_routes()
    with serve(Gateway(InProcessInvoker.for_routes(routes), RouteTable(routes))) as url:
        yield url
