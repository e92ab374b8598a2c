"""Parameterised SQL over thumbnail_renders (migration 0010): the lease that lets one environment
render a thumbnail while the others wait for its object, and the failure remembered after.

Single statements on autocommit connections: they hold no lock between calls, so they work
behind RDS Proxy or pgbouncer in transaction mode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class RenderClaim:
    claimed: bool  # this owner holds the lease: it renders
    failure: str | None = None  # the remembered 422 (not claimed)
    image_missing: bool = False  # the image was deleted (not claimed)


def claim_render(
    conn: psycopg.Connection[Any],
    /,
    *,
    image_id: uuid.UUID,
    size: int,
    owner: uuid.UUID,
    lease_seconds: float,
    failed_under: str,
) -> RenderClaim:
    """Takes the lease of (image_id, size) for owner: a new one, one whose holder let it run out
    (it died), or one whose failure was under other limits or another renderer (tried again).
    Otherwise the failure remembered under these, or not claimed: another holds the lease."""
    params = {"id": image_id, "size": size, "owner": owner, "lease": lease_seconds, "under": failed_under}
    try:
        claimed = conn.execute(
            "INSERT INTO thumbnail_renders AS r (image_id, size, lease_owner, lease_expires_at)"
            " SELECT id, %(size)s, %(owner)s, clock_timestamp() + make_interval(secs => %(lease)s)"
            " FROM images WHERE id = %(id)s"
            " ON CONFLICT (image_id, size) DO UPDATE SET lease_owner = EXCLUDED.lease_owner,"
            "  lease_expires_at = EXCLUDED.lease_expires_at, failure = NULL, failed_under = NULL"
            " WHERE (r.failure IS NULL OR r.failed_under <> %(under)s)"
            "  AND (r.lease_expires_at IS NULL OR r.lease_expires_at < clock_timestamp())"
            " RETURNING true",
            params,
        ).fetchone()
    except psycopg.errors.ForeignKeyViolation:  # the image was deleted between the two checks
        return RenderClaim(claimed=False, image_missing=True)
    if claimed is not None:
        return RenderClaim(claimed=True)
    found = conn.execute(
        "SELECT failure, failed_under FROM thumbnail_renders WHERE image_id = %s AND size = %s",
        (image_id, size),
    ).fetchone()
    if found is None:
        image = conn.execute("SELECT 1 FROM images WHERE id = %s", (image_id,)).fetchone()
        return RenderClaim(claimed=False, image_missing=image is None)
    failure, under = found
    return RenderClaim(claimed=False, failure=failure if under == failed_under else None)


def record_failure(
    conn: psycopg.Connection[Any],
    /,
    *,
    image_id: uuid.UUID,
    size: int,
    owner: uuid.UUID,
    failure: str,
    failed_under: str,
) -> None:
    """Ends owner's lease with the failure, which later requests answer without a render."""
    conn.execute(
        "UPDATE thumbnail_renders SET failure = %s, failed_under = %s, lease_owner = NULL,"
        " lease_expires_at = NULL WHERE image_id = %s AND size = %s AND lease_owner = %s",
        (failure, failed_under, image_id, size, owner),
    )


def end_render(conn: psycopg.Connection[Any], /, *, image_id: uuid.UUID, size: int, owner: uuid.UUID) -> None:
    """Drops owner's lease: the thumbnail is stored, or the render stopped on something a retry may
    not meet (storage down, out of time). A waiter then finds the object or claims the lease."""
    conn.execute(
        "DELETE FROM thumbnail_renders WHERE image_id = %s AND size = %s AND lease_owner = %s",
        (image_id, size, owner),
    )
