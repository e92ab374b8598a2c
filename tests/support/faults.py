"""Real faults for the fault tests: a TCP proxy that can cut connections part-way, a PostgreSQL
proxy that can lose a statement or its reply, and helpers to point the running code at another
S3 endpoint."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import psycopg


class CuttingProxy:
    """Forwards 127.0.0.1:port to an upstream (host and port, or a Unix socket path); once armed,
    a connection that has sent more than cut_after bytes upstream is reset, as a store failing
    part-way through would do. Once stalled, nothing more is forwarded in either direction and
    nothing is closed: a peer gone silent (a lost NAT entry, a frozen proxy)."""

    def __init__(self, upstream_host: str, upstream_port: int | None = None) -> None:
        self.upstream = upstream_host if upstream_port is None else (upstream_host, upstream_port)
        self.cut_after: int | None = None
        self.cut_marker: bytes | None = None  # or reset a connection whose request holds this
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
                cut = self.cut_after is not None and sent > self.cut_after
                if counted and (cut or (self.cut_marker is not None and self.cut_marker in data)):
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


_READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # the server's last message of every reply


class PostgresProxy:
    """Forwards a loopback TCP port to PostgreSQL (over TCP or its Unix socket) and, when told,
    fails the way a network cut or a failover at commit time does:

    - drop_reply_to: the next statement containing these bytes reaches the server and runs
      (autocommit: it commits), but its reply is thrown away and the client's connection reset;
    - drop_request_with: the next statement containing these bytes never reaches the server;
      both connections are reset;
    - refusing / refuse_next: new connections are closed at once (all of them, or that many)."""

    def __init__(self, database_url: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(database_url)
        host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
        self._upstream: tuple[int, Any] = (
            (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}")
            if host.startswith("/")
            else (socket.AF_INET, (host, port))
        )
        self.database_url = database_url
        self.drop_reply_to: bytes | None = None
        self.drop_request_with: bytes | None = None
        self.refusing = False
        self.refuse_next = 0
        self.replies_dropped = self.requests_dropped = self.refused = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The database URL, through this proxy, in clear text so that statements can be seen."""
        return psycopg.conninfo.make_conninfo(
            self.database_url, host="127.0.0.1", port=self.port, sslmode="disable"
        )

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing or self.refuse_next:
                self.refuse_next = max(0, self.refuse_next - 1)
                self.refused += 1
                _reset(client)
                client.close()
                continue
            family, address = self._upstream
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.connect(address)
            connection = _PostgresConnection(self, client, upstream)
            threading.Thread(target=connection.requests, daemon=True).start()
            threading.Thread(target=connection.replies, daemon=True).start()

    def close(self) -> None:
        self._listener.close()


class _PostgresConnection:
    def __init__(self, proxy: PostgresProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.swallowing = threading.Event()
        self.pair = _Pair(client, upstream)

    def requests(self) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := self.client.recv(65536):
                    marker = self.proxy.drop_request_with
                    if marker is not None and marker in data:
                        self.proxy.drop_request_with = None
                        self.proxy.requests_dropped += 1
                        _reset(self.client)
                        _reset(self.upstream)
                        return
                    marker = self.proxy.drop_reply_to
                    if marker is not None and marker in data:
                        self.proxy.drop_reply_to = None
                        self.swallowing.set()
                    self.upstream.sendall(data)
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        finally:
            self.pair.done()

    def replies(self) -> None:
        swallowed = b""
        try:
            with contextlib.suppress(OSError):
                while data := self.upstream.recv(65536):
                    if not self.swallowing.is_set():
                        self.client.sendall(data)
                        continue
                    swallowed += data
                    if swallowed.endswith(_READY_FOR_QUERY + b"I"):  # the statement has committed
                        self.proxy.replies_dropped += 1
                        _reset(self.client)
                        _reset(self.upstream)
                        return
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        finally:
            self.pair.done()


def _reset(sock: socket.socket) -> None:
    """Closes with a RST, as a cut connection ends, rather than a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def postgres_proxy(database_url: str) -> Iterator[PostgresProxy]:
    proxy = PostgresProxy(database_url)
    try:
        yield proxy
    finally:
        proxy.close()
