"""Real faults for the fault tests: a TCP proxy that can cut connections part-way, and helpers
to point the running code at another S3 endpoint."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class CuttingProxy:
    """Forwards 127.0.0.1:port to an upstream; once armed, a connection that has sent more than
    cut_after bytes upstream is reset, as a store failing part-way through would do."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.cut_after: int | None = None
        self.cut_marker: bytes | None = None  # or reset a connection whose request holds this
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            pair = _Pair(client, upstream)
            threading.Thread(target=self._pipe, args=(pair, client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(pair, upstream, client, False), daemon=True).start()

    def _pipe(self, pair: _Pair, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            self._forward(source, sink, counted)
        finally:
            pair.done()

    def _forward(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sent += len(data)
                cut = self.cut_after is not None and sent > self.cut_after
                if counted and (cut or (self.cut_marker is not None and self.cut_marker in data)):
                    self.cuts += 1
                    for sock in (source, sink):  # RST, not a polite close
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing = True
        self._listener.close()


class _Pair:
    """Both sockets of one proxied connection, closed once both directions are done."""

    def __init__(self, *sockets: socket.socket) -> None:
        self.sockets = sockets
        self.open_pipes = 2
        self.lock = threading.Lock()

    def done(self) -> None:
        with self.lock:
            self.open_pipes -= 1
            if self.open_pipes == 0:
                for sock in self.sockets:
                    sock.close()


@contextlib.contextmanager
def cutting_proxy(endpoint_url: str) -> Iterator[CuttingProxy]:
    host, port = endpoint_url.removeprefix("http://").split(":")
    proxy = CuttingProxy(host, int(port))
    try:
        yield proxy
    finally:
        proxy.close()
