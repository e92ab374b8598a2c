"""Real faults for the fault tests: a TCP proxy that can cut connections part-way, and helpers
to point the running code at another S3 endpoint."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class CuttingProxy:
    """Forwards 127.0.0.1:port to an upstream (host and port, or a Unix socket path); once armed,
    a connection that has sent more than cut_after bytes upstream is reset, as a store failing
    part-way through would do. Once stalled, nothing more is forwarded in either direction and
    nothing is closed: a peer gone silent (a lost NAT entry, a frozen proxy)."""

    def __init__(self, upstream_host: str, upstream_port: int | None = None) -> None:
        self.upstream = upstream_host if upstream_port is None else (upstream_host, upstream_port)
        self.cut_after: int | None = None
        self.cuts = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self._flowing.clear()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.upstream)
            return sock
        return socket.create_connection(self.upstream)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = self._connect_upstream()
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
                if counted and self.cut_after is not None and sent > self.cut_after:
                    self.cuts += 1
                    for sock in (source, sink):  # RST, not a polite close
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                self._flowing.wait()
                if self._closing:
                    return
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing = True
        self._flowing.set()  # stalled pipes wake up, see the proxy closing and close their sockets
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


@contextlib.contextmanager
def database_proxy(database_url: str) -> Iterator[tuple[CuttingProxy, str]]:
    """A proxy in front of the PostgreSQL of database_url (TCP or Unix socket); yields it and a
    connection string that goes through it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(database_url)
    host, port = str(params.get("host") or "/tmp"), int(params.get("port") or 5432)
    proxy = CuttingProxy(f"{host}/.s.PGSQL.{port}") if host.startswith("/") else CuttingProxy(host, port)
    try:
        yield proxy, make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    finally:
        proxy.close()
