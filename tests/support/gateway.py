"""The gateway emulator as a test target: its ASGI app under uvicorn on a loopback port, with
the functions invoked in this process (host mode, as `make gateway` runs it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.gateway import Gateway
from local.invokers import InProcessInvoker
from local.routes import RouteTable, load_routes
from tests.support.servers import serve


@pytest.fixture(scope="session")
def gateway_server(services: dict[str, str]) -> Iterator[str]:
    """The gateway in host mode over the session's PostgreSQL and S3; yields its base URL."""
    routes = load_routes()
    with serve(Gateway(InProcessInvoker.for_routes(routes), RouteTable(routes))) as url:
        yield url
