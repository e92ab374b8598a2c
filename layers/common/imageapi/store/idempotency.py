"""Parameterised SQL over idempotency_keys (migration 0005): who holds a key, and the first
outcome of the request made with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

LIFETIME = timedelta(hours=24)  # how long a key's first outcome is replayed

_COLUMNS = (
    "route, key, resource_id, fingerprint, state, lease_owner, lease_expires_at, status_code,"
    " response_body, location, created_at"
)


@dataclass
class KeyRow:
    route: str
    key: str
    resource_id: uuid.UUID
    fingerprint: str | None
    state: str  # processing, done
    lease_owner: uuid.UUID | None
    lease_expires_at: datetime | None
    status_code: int | None
    response_body: str | None
    location: str | None
    created_at: datetime
    resumed: bool = False  # taken over from a holder that died: its write may have happened


def claim_key(
    conn: psycopg.Connection[Any],
    /,
    *,
    route: str,
    key: str,
    owner: uuid.UUID,
    resource_id: uuid.UUID,
    fingerprint: str | None,
    lease_seconds: float,
    lifetime_seconds: float,
) -> tuple[KeyRow, bool]:
    """The key's row, and whether owner now holds it: a new key, one this owner holds already (a
    retry after a lost reply), one whose holder let its lease run out (it keeps its resource id,
    and is resumed only by the same request where the request was known up front), or one past
    its lifetime (it starts anew)."""
    lease = {"owner": owner, "lease": lease_seconds, "route": route, "key": key}
    with conn.transaction(), conn.cursor(row_factory=class_row(KeyRow)) as cur:
        cur.execute(
            "INSERT INTO idempotency_keys (route, key, resource_id, fingerprint, state, lease_owner,"
            " lease_expires_at) VALUES (%(route)s, %(key)s, %(resource_id)s, %(fingerprint)s,"
            " 'processing', %(owner)s, clock_timestamp() + make_interval(secs => %(lease)s))"
            f" ON CONFLICT (route, key) DO NOTHING RETURNING {_COLUMNS}",
            {**lease, "resource_id": resource_id, "fingerprint": fingerprint},
        )
        if (row := cur.fetchone()) is not None:
            return row, True
        cur.execute(
            "UPDATE idempotency_keys SET state = 'processing', lease_owner = %(owner)s,"
            " lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s),"
            " resource_id = %(resource_id)s, fingerprint = %(fingerprint)s, status_code = NULL,"
            " response_body = NULL, location = NULL, created_at = clock_timestamp()"
            " WHERE route = %(route)s AND key = %(key)s"
            " AND created_at < clock_timestamp() - make_interval(secs => %(lifetime)s)"
            " AND NOT (state = 'processing' AND lease_expires_at >= clock_timestamp())"
            f" RETURNING {_COLUMNS}",
            {**lease, "resource_id": resource_id, "fingerprint": fingerprint, "lifetime": lifetime_seconds},
        )
        if (row := cur.fetchone()) is not None:
            return row, True
        cur.execute(
            "UPDATE idempotency_keys SET lease_owner = %(owner)s,"
            " lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s)"
            " WHERE route = %(route)s AND key = %(key)s AND state = 'processing'"
            " AND (lease_owner = %(owner)s OR lease_expires_at < clock_timestamp())"
            " AND (fingerprint IS NULL OR fingerprint IS NOT DISTINCT FROM %(fingerprint)s)"
            f" RETURNING {_COLUMNS}",
            {**lease, "fingerprint": fingerprint},
        )
        if (row := cur.fetchone()) is not None:
            row.resumed = True
            return row, True
        cur.execute(
            f"SELECT {_COLUMNS} FROM idempotency_keys WHERE route = %(route)s AND key = %(key)s", lease
        )
        row = cur.fetchone()
    assert row is not None
    return row, False


def record_outcome(
    conn: psycopg.Connection[Any],
    /,
    *,
    route: str,
    key: str,
    owner: uuid.UUID,
    fingerprint: str,
    status_code: int,
    response_body: str,
    location: str | None,
) -> None:
    conn.execute(
        "UPDATE idempotency_keys SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,"
        " fingerprint = %s, status_code = %s, response_body = %s, location = %s"
        " WHERE route = %s AND key = %s AND lease_owner = %s",
        (fingerprint, status_code, response_body, location, route, key, owner),
    )


def release_key(conn: psycopg.Connection[Any], /, *, route: str, key: str, owner: uuid.UUID) -> None:
    """No outcome to keep (the request may be tried again): a retry takes the key over at once,
    with the same resource id."""
    conn.execute(
        "UPDATE idempotency_keys SET lease_expires_at = clock_timestamp() - interval '1 second'"
        " WHERE route = %s AND key = %s AND lease_owner = %s AND state = 'processing'",
        (route, key, owner),
    )


def delete_expired_keys(conn: psycopg.Connection[Any], /, *, lifetime_seconds: float, batch: int) -> int:
    """Removes up to batch keys past their lifetime, oldest first (by the created_at index)."""
    cur = conn.execute(
        "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
        " SELECT ctid FROM idempotency_keys"
        " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
        " AND NOT (state = 'processing' AND lease_expires_at >= clock_timestamp())"
        " ORDER BY created_at LIMIT %s))",
        (lifetime_seconds, batch),
    )
    return cur.rowcount
