"""`python -m bench.server PORT`: the dev server (local.devserver.DevServer) under uvicorn with the
options `make dev` uses, plus the hello baseline's app on /hello, so that the trivial route and
the API's routes are served by the same process and setup. Prints its URL once it accepts
connections, and stops when its stdin closes.

`serving()` runs it as a subprocess, whose memory the streaming benchmark samples."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.build import hello_route
from bench.services import child, child_env
from local.devserver import DevServer
from local.routes import load_handler
from local.services import exit_on_sigterm

MAX_UPLOAD_BYTES = 300 * 1024 * 1024  # room for the 200 MiB streaming file


class WithHello:
    """Sends /hello to the hello app and everything else (lifespan included) to the dev server."""

    def __init__(self, devserver: ASGIApp, hello: ASGIApp) -> None:
        self.devserver = devserver
        self.hello = hello

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/hello":
            await self.hello(scope, receive, send)
        else:
            await self.devserver(scope, receive, send)


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


@contextmanager
def serving(env: dict[str, str]) -> Iterator[Served]:
    """The bench server in a subprocess with the layer's settings env, on a free loopback port."""
    settings = {**env, "DATABASE_POOL_SIZE": "10", "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    with child("bench.server", "0", env=child_env(settings)) as (proc, url):
        if not url.startswith("http://"):
            raise RuntimeError(f"the bench server did not start: {url}")
        yield Served(url=url, pid=proc.pid)


def main() -> int:
    exit_on_sigterm()
    app = WithHello(DevServer(), load_handler(hello_route()).app)
    config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    def announce() -> None:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        if server.started:
            print(f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", flush=True)
        else:
            print("not started after 30 s", flush=True)
        sys.stdin.read()  # until the parent closes the pipe
        server.should_exit = True

    threading.Thread(target=announce, daemon=True).start()
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
