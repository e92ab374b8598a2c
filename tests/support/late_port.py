"""A TCP port on 127.0.0.1 that refuses connections until it is opened, then forwards each one
to a real server: a database "starting late", without waiting on a clock."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

Address = tuple[str, int] | str  # a TCP address, or the path of a Unix socket


class LatePort:
    def __init__(self, target: Address) -> None:
        self.target = target
        with socket.socket() as probe:  # a free port; closed again, so connecting is refused
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._server: _Server | None = None

    def open(self) -> None:
        """From now on, connections are accepted and forwarded to the target."""
        target = self.target

        class Forward(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                family = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM) as upstream:
                    upstream.connect(target)
                    back = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
                    back.start()
                    _pump(self.request, upstream)
                    back.join(timeout=30)

        server = _Server(("127.0.0.1", self.port), Forward)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def late_port(target: Address) -> Iterator[LatePort]:
    port = LatePort(target)
    try:
        yield port
    finally:
        port.close()
