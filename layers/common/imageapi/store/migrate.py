"""Applies the versioned SQL files in migrations/ once each, in name order.

Run it with `python -m imageapi.store.migrate [--wait SECONDS]`; on AWS, `handler` runs it as a
CloudFormation custom resource at deploy time (or when invoked directly)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from imageapi.core.settings import Settings, get_settings

from .db import resolve_conninfo

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_ID = 0x1A6E_0001  # serialises concurrent runs (several deploys, dev servers)
# What a server says while it cannot take connections yet (SQLSTATE 57P03). libpq reports
# connection failures as text only (no SQLSTATE), so the text is what can be told apart.
_NOT_READY_YET = (
    "the database system is starting up",
    "the database system is not yet accepting",
    "the database system is shutting down",  # the image's set-up server, stopping
)

log = logging.getLogger(__name__)


class DatabaseNotReady(Exception):
    """PostgreSQL did not accept a connection within the time allowed."""


def pending_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("*.sql"))


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Applies what is not applied yet, in name order, each file in a transaction of its own
    (serialised against concurrent runs by an advisory lock); returns their versions.

    A file whose first line is OUTSIDE_A_TRANSACTION runs statement by statement in autocommit:
    CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY take no long lock on a big table but
    cannot run in a transaction. Its statements must be safe to run again (IF [NOT] EXISTS)."""
    applied_now: list[str] = []
    for path in pending_files():
        text = path.read_text()  # a trusted file of the package
        if text.startswith(OUTSIDE_A_TRANSACTION):
            if path.stem in _applied(conn):
                continue
            for statement in _statements(text):
                conn.execute(statement.encode())
            with conn.transaction():
                _lock(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s) ON CONFLICT DO NOTHING", (path.stem,)
                )
        else:
            with conn.transaction():
                _lock(conn)
                if path.stem in _applied(conn):
                    continue
                conn.execute(text.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
        applied_now.append(path.stem)
    return applied_now


OUTSIDE_A_TRANSACTION = "-- migrate: outside a transaction"


def _lock(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )


def _applied(conn: psycopg.Connection[Any]) -> set[str]:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def _statements(text: str) -> list[str]:
    """The statements of a file of plain DDL, one per ';' at a line's end (no functions here)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]


def migrate(*, wait: float = 0) -> list[str]:
    """Applies the pending migrations, then the role's defaults; retries a refused connection for
    up to `wait` seconds. Straight to the database, never through DATABASE_PROXY_ENDPOINT."""
    settings = get_settings()
    # No statement limit: a migration may build an index on a large table; the Timeout bounds it.
    conninfo = resolve_conninfo(settings, statement_timeout_ms=0, via_proxy=False)
    with connect_when_ready(conninfo, wait=wait) as conn:
        applied = apply_migrations(conn)
        apply_role_settings(conn, settings)
        return applied


def apply_role_settings(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """The statement limit as the role's default in this database: behind RDS Proxy or pgbouncer
    no client may send it at connect time, and every server connection starts with it. (Not
    idle_session_timeout: a pooler keeps its server connections idle on purpose, and closes
    idle clients itself.)"""
    limits = {"statement_timeout": settings.database_statement_timeout_ms}
    try:
        for name, milliseconds in limits.items():
            conn.execute(
                sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET {} = {}").format(
                    sql.Identifier(conn.info.dbname), sql.Identifier(name), sql.Literal(f"{milliseconds}ms")
                )
            )
    except psycopg.errors.InsufficientPrivilege:
        log.warning(
            "the role may not set its own defaults: behind a proxy, set %s yourself", ", ".join(limits)
        )


def connect_when_ready(conninfo: str, *, wait: float) -> psycopg.Connection[Any]:
    """A connection, retried while the server is not there yet (refused, unreachable, starting
    up) until `wait` seconds have passed. What the server itself refuses (a wrong password, a
    missing database) fails at once: waiting would not change it."""
    deadline = time.monotonic() + wait
    pause = 0.1
    while True:
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            if not _not_there_yet(exc):
                raise
            remaining = deadline - time.monotonic()
            reason = _first_line(exc)
            if remaining <= 0:
                raise DatabaseNotReady(
                    f"PostgreSQL did not accept a connection within {wait:g} s: {reason}"
                ) from exc
            log.warning(
                "PostgreSQL is not accepting connections yet (%s); retrying for %.0f s more",
                reason,
                remaining,
            )
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 2.0)


def _not_there_yet(exc: psycopg.OperationalError) -> bool:
    """True for a server not listening or still starting; False for what it refused (FATAL)."""
    text = str(exc)
    return "FATAL:" not in text or any(phrase in text for phrase in _NOT_READY_YET)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: a CloudFormation custom resource, or a direct `sam remote invoke`."""
    if "RequestType" not in event:
        return {"applied": migrate()}
    status, reason, applied = "SUCCESS", "", []
    try:
        if event["RequestType"] in ("Create", "Update"):
            applied = migrate()
    except Exception as exc:  # report failure to CloudFormation instead of letting it time out
        log.exception("migration failed")
        status, reason = "FAILED", f"{type(exc).__name__}: see the function's log"
    _send_cfn_response(event, context, status=status, reason=reason, data={"Applied": ",".join(applied)})
    return {"applied": applied}


def _send_cfn_response(
    event: dict[str, Any], context: Any, *, status: str, reason: str, data: dict[str, str]
) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or f"See log stream {getattr(context, 'log_stream_name', '')}",
            "PhysicalResourceId": event.get("PhysicalResourceId", "imageapi-migrations"),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    if not event["ResponseURL"].startswith("https://"):
        raise ValueError("CloudFormation response URLs are https")
    request = urllib.request.Request(  # noqa: S310  # scheme checked above
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imageapi.store.migrate", description=__doc__)
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="retry a refused connection for up to this long (a database still starting)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        applied = migrate(wait=args.wait)
    except (DatabaseNotReady, psycopg.OperationalError) as exc:
        print(f"migrate: {exc if isinstance(exc, DatabaseNotReady) else _first_line(exc)}", file=sys.stderr)
        return 1
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
