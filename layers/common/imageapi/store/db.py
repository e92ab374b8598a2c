"""PostgreSQL access: one lazily opened connection reused across warm Lambda invocations,
or a psycopg_pool pool when DATABASE_POOL_SIZE > 0 (the dev server).

Every operation is bounded, so a connection that stops answering without closing gives a 503
well inside the function's timeout: statement_timeout on the server, keepalives and
TCP_USER_TIMEOUT in the kernel, and a deadline here that drops the connection. With
DATABASE_SECRET_ARN, a refused password fetches the secret again (rotation)."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from imageapi.core.errors import DatabaseUnavailable
from imageapi.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class NotYet(Exception):
    """Raised by a function given to run_on_fresh_connection: ask again on the next attempt."""


class _Source(Protocol):
    def connection(self) -> Any: ...  # a context manager yielding a psycopg.Connection

    def close(self) -> None: ...


class Conninfo:
    """The connection string. From a secret, it is fetched again after the server refused the
    password, at most once per DATABASE_SECRET_REFRESH_SECONDS."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._value = resolve_conninfo(settings)
        self._refreshed_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        return self._value

    def refresh(self) -> bool:
        """Fetches the secret again if it may; whether the connection string changed."""
        if self._settings.database_url is not None or not self._settings.database_secret_arn:
            return False
        with self._lock:
            now = time.monotonic()
            wait = self._settings.database_secret_refresh_seconds
            if self._refreshed_at is not None and now - self._refreshed_at < wait:
                return False
            self._refreshed_at = now
            fresh = resolve_conninfo(self._settings)
            changed, self._value = fresh != self._value, fresh
        log.warning("database refused the credentials; secret fetched again (changed: %s)", changed)
        return changed


class _SingleConnection:
    """One connection per process, opened on first use and reopened once it has dropped, or once
    it has been idle so long that the server will have closed it (idle_seconds)."""

    def __init__(
        self,
        conninfo: str | Callable[[], str],
        *,
        idle_seconds: float = 0,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._conninfo = conninfo if callable(conninfo) else lambda: conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._idle_seconds = idle_seconds
        self._kwargs = kwargs or {}
        self._used_at = 0.0

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._conn
            idle = self._idle_seconds and time.monotonic() - self._used_at > self._idle_seconds
            if conn is not None and idle:
                conn.close()  # closed by the server by now: do not find out with a failed query
            if conn is None or conn.closed or conn.broken:
                conn = self._conn = psycopg.connect(self._conninfo(), autocommit=True, **self._kwargs)
            try:
                yield conn
            finally:
                self._used_at = time.monotonic()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Pool:
    def __init__(self, conninfo: str | Callable[[], str], size: int, kwargs: dict[str, Any]) -> None:
        from psycopg_pool import ConnectionPool  # only the dev server pays for this import

        self._pool = ConnectionPool(
            conninfo,  # a callable: read again for each new connection
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, **kwargs},
            # Before the server closes it (idle_session_timeout); checked again when taken.
            max_idle=60,
            check=ConnectionPool.check_connection,
            timeout=10,
            open=True,
        )

    def connection(self) -> Any:
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()


def resolve_conninfo(
    settings: Settings, *, statement_timeout_ms: int | None = None, via_proxy: bool = True
) -> str:
    """The connection string, from DATABASE_URL or from a Secrets Manager secret in RDS's format,
    with the bounds above (statement_timeout_ms=0 lifts the statement limit: migrations). With
    DATABASE_PROXY_ENDPOINT (and via_proxy), the proxy's address and no startup options."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
    elif settings.database_secret_arn:
        url = _conninfo_from_secret(settings.database_secret_arn)
    else:
        raise RuntimeError("Set DATABASE_URL or DATABASE_SECRET_ARN")
    bounds: dict[str, Any] = {
        "connect_timeout": settings.database_connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": settings.database_tcp_user_timeout_ms,
    }
    if via_proxy and settings.database_proxy_endpoint:
        host, _, port = settings.database_proxy_endpoint.partition(":")
        params = {k: v for k, v in conninfo_to_dict(url).items() if k not in ("options", "hostaddr")}
        return make_conninfo("", **{**params, "host": host, "port": port or 5432, **bounds})
    options = conninfo_to_dict(url).get("options") or ""
    statement_timeout = (
        settings.database_statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
    )
    limits = f"-c statement_timeout={statement_timeout}"
    if settings.database_idle_session_timeout_ms:
        limits += f" -c idle_session_timeout={settings.database_idle_session_timeout_ms}"
    return make_conninfo(url, options=f"{options} {limits}".strip(), **bounds)


def connect_kwargs(settings: Settings) -> dict[str, Any]:
    """psycopg.connect's arguments besides the string: behind a transaction-pooling proxy, no
    server-side prepared statement (one would belong to a server connection the next
    transaction may not get, and RDS Proxy pins a client that prepares)."""
    return {"prepare_threshold": None} if settings.database_proxy_endpoint else {}


def _conninfo_from_secret(arn: str) -> str:
    import boto3  # only when the URL lives in Secrets Manager

    secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    return make_conninfo(
        host=secret["host"],
        port=secret.get("port", 5432),
        dbname=secret.get("dbname", "postgres"),
        user=secret["username"],
        password=secret["password"],
        sslmode=secret.get("sslmode", "prefer"),
    )


class Database:
    """Runs data-access functions with a connection, each within a deadline; retries once if the
    connection had dropped, or after fetching a rotated password."""

    def __init__(self, source: _Source, conninfo: Conninfo | None = None, *, timeout: float = 8.0) -> None:
        self._source = source
        self._conninfo = conninfo
        self._timeout = timeout

    def run(
        self, fn: Callable[Concatenate[psycopg.Connection[Any], P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        reconnected = refreshed = False  # each at most once: at most three attempts
        while True:
            conn: psycopg.Connection[Any] | None = None
            expired: threading.Event | None = None
            try:
                with self._source.connection() as conn, _deadline(conn, self._timeout) as expired:
                    return fn(conn, *args, **kwargs)
            except psycopg.OperationalError as exc:
                if expired is not None and expired.is_set():
                    log.error("database did not answer within %s s; connection dropped", self._timeout)
                    raise DatabaseUnavailable("The database is unavailable, try again later") from exc
                if not reconnected and conn is not None and (conn.closed or conn.broken):
                    log.warning("database connection dropped; reconnecting")
                    reconnected = True
                    continue
                refused = conn is None and _credentials_refused(exc)
                if refused and not refreshed and self._conninfo is not None and self._conninfo.refresh():
                    refreshed = True
                    continue
                log.error("database unavailable: %s", type(exc).__name__)
                raise DatabaseUnavailable("The database is unavailable, try again later") from exc

    def run_on_fresh_connection(
        self, fn: Callable[Concatenate[psycopg.Connection[Any], P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Runs fn on a connection of its own, opened now and closed after, retrying until the
        settings' DATABASE_OUTCOME_CHECK_SECONDS have passed; then DatabaseUnavailable. For
        questions whose answer must not depend on the reused connection, such as whether a commit
        landed; fn raises NotYet when the answer is not known yet. The connection string is this
        database's own (a secret already fetched is not fetched again)."""
        settings = get_settings()
        conninfo = self._conninfo() if self._conninfo is not None else resolve_conninfo(settings)
        deadline = time.monotonic() + settings.database_outcome_check_seconds
        pause = 0.1
        while True:
            remaining = deadline - time.monotonic()
            timeout = max(1, math.ceil(min(remaining, settings.database_connect_timeout)))
            try:
                extra = connect_kwargs(settings)
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout, **extra) as conn:
                    return fn(conn, *args, **kwargs)
            except (psycopg.OperationalError, NotYet) as exc:
                if time.monotonic() + pause >= deadline:
                    log.error("database unavailable: %s", type(exc).__name__)
                    raise DatabaseUnavailable("The database is unavailable, try again later") from exc
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def with_timeout(self, seconds: float) -> Database:
        """The same connections, each call bounded by seconds instead (at most this one's own)."""
        return Database(self._source, self._conninfo, timeout=min(seconds, self._timeout))

    def close(self) -> None:
        self._source.close()


@contextlib.contextmanager
def _deadline(conn: psycopg.Connection[Any], seconds: float) -> Iterator[threading.Event]:
    """Shuts the connection's socket down once seconds have passed: a peer that stopped answering
    without closing (a stalled proxy, a lost NAT entry) would otherwise hold the call forever,
    since its kernel may still acknowledge what is sent. libpq then fails the call at once."""
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError, psycopg.Error):  # already closed: nothing to cut
            sock = socket.socket(fileno=os.dup(conn.fileno()))
            with sock:
                sock.shutdown(socket.SHUT_RDWR)

    key = _watchdog.watch(seconds, cut)
    try:
        yield expired
    finally:
        _watchdog.release(key)


class _Watchdog:
    """One thread that runs the cut of every deadline that passes (a timer thread per database
    call would cost more than the call itself)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: dict[int, tuple[float, Callable[[], None]]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, cut: Callable[[], None]) -> int:
        at = time.monotonic() + seconds
        with self._wake:
            if self._thread is None or not self._thread.is_alive():  # none yet, or lost to a fork
                self._thread = threading.Thread(target=self._run, name="db-deadlines", daemon=True)
                self._thread.start()
            earliest = min((due for due, _ in self._due.values()), default=None)
            key = next(self._keys)
            self._due[key] = (at, cut)
            if earliest is None or at < earliest:
                self._wake.notify()
        return key

    def release(self, key: int) -> None:
        with self._wake:
            self._due.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                cuts = [self._due.pop(k)[1] for k, (due, _) in list(self._due.items()) if due <= now]
                if not cuts:
                    earliest = min((due for due, _ in self._due.values()), default=now + 3600)
                    self._wake.wait(timeout=earliest - now)
                    continue
            for cut in cuts:
                cut()


_watchdog = _Watchdog()


def _credentials_refused(exc: psycopg.OperationalError) -> bool:
    message = str(exc)
    return "authentication failed" in message or ("role" in message and "does not exist" in message)


@lru_cache(maxsize=1)
def get_database() -> Database:
    settings = get_settings()
    conninfo = Conninfo(settings)
    timeout = settings.database_operation_timeout_ms / 1000
    kwargs = connect_kwargs(settings)
    if settings.database_pool_size > 0:
        return Database(_Pool(conninfo, settings.database_pool_size, kwargs), conninfo, timeout=timeout)
    # A little before the server's idle_session_timeout, so the close is never a failed query.
    idle = max(0.0, settings.database_idle_session_timeout_ms / 1000 - 5)
    return Database(_SingleConnection(conninfo, idle_seconds=idle, kwargs=kwargs), conninfo, timeout=timeout)
