"""PostgreSQL access: one lazily opened connection reused across warm Lambda invocations,
or a psycopg_pool pool when DATABASE_POOL_SIZE > 0 (the dev server)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import psycopg
from psycopg.conninfo import make_conninfo

from .errors import DatabaseUnavailable
from .settings import Settings, get_settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class NotYet(Exception):
    """Raised by a function given to run_on_fresh_connection: ask again on the next attempt."""


class _Source(Protocol):
    def connection(self) -> Any: ...  # a context manager yielding a psycopg.Connection

    def close(self) -> None: ...


class _SingleConnection:
    """One connection per process, opened on first use and reopened once it has dropped."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                conn = self._conn = psycopg.connect(self._conninfo, autocommit=True)
            yield conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Pool:
    def __init__(self, conninfo: str, size: int) -> None:
        from psycopg_pool import ConnectionPool  # only the dev server pays for this import

        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            timeout=10,
            open=True,
        )

    def connection(self) -> Any:
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()


def resolve_conninfo(settings: Settings) -> str:
    """The connection string, from DATABASE_URL or from a Secrets Manager secret in RDS's format."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
    elif settings.database_secret_arn:
        url = _conninfo_from_secret(settings.database_secret_arn)
    else:
        raise RuntimeError("Set DATABASE_URL or DATABASE_SECRET_ARN")
    return make_conninfo(url, connect_timeout=settings.database_connect_timeout)


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
    """Runs data-access functions with a connection, retrying once if the connection had dropped."""

    def __init__(self, source: _Source) -> None:
        self._source = source

    def run(
        self, fn: Callable[Concatenate[psycopg.Connection[Any], P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        for attempt in (1, 2):
            conn: psycopg.Connection[Any] | None = None
            try:
                with self._source.connection() as conn:
                    return fn(conn, *args, **kwargs)
            except psycopg.OperationalError as exc:
                dropped = conn is not None and (conn.closed or conn.broken)
                if attempt == 1 and dropped:
                    log.warning("database connection dropped; reconnecting")
                    continue
                log.error("database unavailable: %s", type(exc).__name__)
                raise DatabaseUnavailable("The database is unavailable, try again later") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._source.close()


@lru_cache(maxsize=1)
def get_database() -> Database:
    settings = get_settings()
    conninfo = resolve_conninfo(settings)
    if settings.database_pool_size > 0:
        return Database(_Pool(conninfo, settings.database_pool_size))
    return Database(_SingleConnection(conninfo))


def run_on_fresh_connection[**Q, R](
    fn: Callable[Concatenate[psycopg.Connection[Any], Q], R], *args: Q.args, **kwargs: Q.kwargs
) -> R:
    """Runs fn on a connection of its own, opened now and closed after, retrying until the
    settings' DATABASE_OUTCOME_CHECK_SECONDS have passed; then DatabaseUnavailable. For questions
    whose answer must not depend on the reused connection, such as whether a commit landed;
    fn raises NotYet when the answer is not known yet."""
    settings = get_settings()
    conninfo = resolve_conninfo(settings)
    deadline = time.monotonic() + settings.database_outcome_check_seconds
    pause = 0.1
    while True:
        remaining = deadline - time.monotonic()
        timeout = max(1, math.ceil(min(remaining, settings.database_connect_timeout)))
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout) as conn:
                return fn(conn, *args, **kwargs)
        except (psycopg.OperationalError, NotYet) as exc:
            if time.monotonic() + pause >= deadline:
                log.error("database unavailable: %s", type(exc).__name__)
                raise DatabaseUnavailable("The database is unavailable, try again later") from exc
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
