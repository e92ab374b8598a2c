"""Applies the versioned SQL files in migrations/ once each, in name order.

Run it with `python -m imageapi.migrate`; on AWS, `handler` runs it as a CloudFormation custom
resource at deploy time (or when invoked directly)."""

from __future__ import annotations

import json
import logging
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from .db import resolve_conninfo
from .settings import get_settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_ID = 0x1A6E_0001  # serialises concurrent runs (several deploys, dev servers)

log = logging.getLogger(__name__)


def pending_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("*.sql"))


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Applies what is not applied yet, each file in its own transaction; returns their versions."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for path in pending_files():
            if path.stem in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text().encode())  # a trusted file of the package
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
            applied_now.append(path.stem)
    return applied_now


def migrate() -> list[str]:
    # No statement limit: a migration may rewrite a large table; the function's Timeout bounds it.
    with psycopg.connect(resolve_conninfo(get_settings(), statement_timeout_ms=0), autocommit=True) as conn:
        return apply_migrations(conn)


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


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    applied = migrate()
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
