"""Parameterised SQL over the images table. Each function takes the connection first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from imageapi.core.schemas import ImageCreate, ImageRow, ListedImageRow, UploadSessionRow

_COLUMNS = (
    "id, object_key, description, filename, content_type, size_bytes, sha256, width, height, orientation,"
    " created_at, version, updated_at"
)


INSERT_IMAGE = (
    "INSERT INTO images (id, object_key, description, filename, content_type,"
    " size_bytes, sha256, width, height, orientation)"
    " VALUES (%(id)s, %(object_key)s, %(description)s, %(filename)s, %(content_type)s,"
    " %(size_bytes)s, %(sha256)s, %(width)s, %(height)s, %(orientation)s)"
    f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}"
)


def insert_image(conn: psycopg.Connection[Any], /, *, image: ImageCreate) -> ImageRow:
    """Idempotent by id, so a retry after a dropped connection cannot insert twice."""
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        cur.execute(INSERT_IMAGE, image.model_dump())
        row = cur.fetchone()
        if row is None:
            cur.execute(f"SELECT {_COLUMNS} FROM images WHERE id = %s", (image.id,))
            row = cur.fetchone()
    assert row is not None
    return row


def get_image(conn: psycopg.Connection[Any], /, *, image_id: uuid.UUID) -> ImageRow | None:
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM images WHERE id = %s", (image_id,))
        return cur.fetchone()


def update_description(
    conn: psycopg.Connection[Any],
    /,
    *,
    image_id: uuid.UUID,
    description: str,
    versions: list[int] | None,
    unmodified_since: datetime | None,
) -> ImageRow | None:
    """Sets the description and moves the version on, in one statement and only while the row
    is still what the client saw: its version one of versions (None: any), and, with
    unmodified_since, last changed no later than that second. None when no row qualified:
    another edit came first, or there is no such image (get_image tells which)."""
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        cur.execute(
            "UPDATE images SET description = %(description)s, version = version + 1,"
            " updated_at = greatest(clock_timestamp(), created_at)"
            " WHERE id = %(id)s AND (%(versions)s::bigint[] IS NULL OR version = ANY(%(versions)s))"
            " AND (%(since)s::timestamptz IS NULL"
            "  OR date_trunc('second', coalesce(updated_at, created_at)) <= %(since)s)"
            f" RETURNING {_COLUMNS}",
            {"id": image_id, "description": description, "versions": versions, "since": unmodified_since},
        )
        return cur.fetchone()


# The listing's position of a row: its transaction (0 for rows older than migration 0006), then
# its number. Only rows whose transaction ended before the oldest one still running are listed.
_POSITION = "coalesce(txid, '0'::xid8)"
_LISTED = f"{_POSITION} < pg_snapshot_xmin(pg_current_snapshot())"


def list_images(
    conn: psycopg.Connection[Any], /, *, limit: int, after: tuple[int, int] | None
) -> list[ListedImageRow]:
    """Newest first by (txid, commit_seq), only rows whose transaction is older than every one
    still running (migration 0006): a row that commits later sorts above every row a page has
    shown, so a page never skips one. after: the position (txid, commit_seq) of the last row seen."""
    with conn.cursor(row_factory=class_row(ListedImageRow)) as cur:
        cur.execute(*listing_query(limit=limit, after=after))
        return cur.fetchall()


def listing_query(*, limit: int, after: tuple[int, int] | None) -> tuple[str, tuple[Any, ...]]:
    """list_images' statement and parameters (EXPLAIN reads the same one)."""
    columns = f"{_COLUMNS}, {_POSITION}::text::bigint AS txid, commit_seq"
    order = f"ORDER BY {_POSITION} DESC, commit_seq DESC LIMIT %s"
    if after is None:
        return f"SELECT {columns} FROM images WHERE {_LISTED} {order}", (limit,)
    # No horizon here: the cursor's own position was below it when served, and the horizon only
    # rises. A second upper bound on the position would also let PostgreSQL start its scan at
    # the horizon rather than at the cursor, and read every row between them.
    before = f"({_POSITION}, commit_seq) < (%s::text::xid8, %s::bigint)"
    return f"SELECT {columns} FROM images WHERE {before} {order}", (str(after[0]), after[1], limit)


def backend_running(conn: psycopg.Connection[Any], /, *, pid: int) -> bool:
    """Whether the server process of another connection (its backend pid) is still running."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,)).fetchone()
    return bool(row and row[0])


def image_ids_after(
    conn: psycopg.Connection[Any],
    /,
    *,
    after: uuid.UUID | None,
    limit: int,
    first: uuid.UUID | None = None,
    end: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, datetime]]:
    """(id, created_at) of the next rows in id order (the primary key's), after the id given
    (else from `first` on), before `end` when given."""
    lower, bound = ("id > %s", after) if after is not None else ("id >= %s", first)
    conditions = [lower] if bound is not None else []
    params: list[Any] = [bound] if bound is not None else []
    if end is not None:
        conditions.append("id < %s")
        params.append(end)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    cur = conn.execute(f"SELECT id, created_at FROM images {where}ORDER BY id LIMIT %s", (*params, limit))
    return [(row[0], row[1]) for row in cur]


def database_now(conn: psycopg.Connection[Any], /) -> datetime:
    """The database's clock, the one created_at is taken from."""
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def delete_images(conn: psycopg.Connection[Any], /, *, image_ids: list[uuid.UUID]) -> int:
    return conn.execute("DELETE FROM images WHERE id = ANY(%s)", (image_ids,)).rowcount


_SESSION_COLUMNS = (
    "id, image_id, incoming_key, description, filename, size_bytes, sha256, created_at, expires_at,"
    " completed_at, state, lease_owner, lease_expires_at, owner_key"
)


class PendingLimitReached(Exception):
    """The owner holds max_pending sessions not completed yet; the first expires in seconds."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"pending upload sessions at the limit; one expires in {seconds} s")
        self.seconds = seconds


# The advisory locks of upload session owners: the first half of the two-key form, so that they
# meet no other lock of the application (migrate's takes the one-key form).
_OWNER_LOCKS = 0x5E55_0009


def insert_upload_session(
    conn: psycopg.Connection[Any], /, *, session: UploadSessionRow, max_pending: int = 0
) -> UploadSessionRow:
    """Idempotent by id, so a retry after a lost reply returns the session the first one made.
    With max_pending, a new session of an owner holding that many sessions not completed and
    not expired raises PendingLimitReached instead. Creates of one owner are serialised by a
    lock on that owner held until commit, so that two at the limit cannot both count the same
    sessions and both pass; those of different owners do not wait for each other."""
    with conn.transaction(), conn.cursor(row_factory=class_row(UploadSessionRow)) as cur:
        if max_pending and session.owner_key is not None:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_OWNER_LOCKS, session.owner_key))
            cur.execute(f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE id = %s", (session.id,))
            if (existing := cur.fetchone()) is not None:
                return existing
            _check_pending(conn, owner_key=session.owner_key, max_pending=max_pending)
        cur.execute(
            "INSERT INTO upload_sessions (id, image_id, incoming_key, description, filename, size_bytes,"
            " sha256, expires_at, owner_key) VALUES (%(id)s, %(image_id)s, %(incoming_key)s,"
            " %(description)s, %(filename)s, %(size_bytes)s, %(sha256)s, %(expires_at)s, %(owner_key)s)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_SESSION_COLUMNS}",
            session.model_dump(),
        )
        row = cur.fetchone()
        if row is None:
            cur.execute(f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE id = %s", (session.id,))
            row = cur.fetchone()
    assert row is not None
    return row


# How many of an owner's sessions are pending (at most the limit), and seconds until the first
# of them expires.
PENDING_SQL = (
    "SELECT count(*), ceil(extract(epoch FROM min(expires_at) - clock_timestamp()))::int"
    " FROM (SELECT expires_at FROM upload_sessions WHERE owner_key = %s AND state <> 'completed'"
    "  AND expires_at > clock_timestamp() ORDER BY expires_at LIMIT %s) AS pending"
)


def _check_pending(conn: psycopg.Connection[Any], /, *, owner_key: str, max_pending: int) -> None:
    """Counts at most max_pending of the owner's pending sessions, through the partial index of
    migration 0009 (owner_key, expires_at): the work stops at the limit."""
    row = conn.execute(PENDING_SQL, (owner_key, max_pending)).fetchone()
    assert row is not None
    if row[0] >= max_pending:
        raise PendingLimitReached(max(1, row[1] or 1))


def get_upload_session(conn: psycopg.Connection[Any], /, *, upload_id: uuid.UUID) -> UploadSessionRow | None:
    with conn.cursor(row_factory=class_row(UploadSessionRow)) as cur:
        cur.execute(f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE id = %s", (upload_id,))
        return cur.fetchone()


def claim_upload_session(
    conn: psycopg.Connection[Any], /, *, upload_id: uuid.UUID, owner: uuid.UUID, lease_seconds: float
) -> UploadSessionRow | None:
    """Takes the session's lease for owner: a lease this owner holds already (a retry after a
    lost reply), or, before the session expires, an open one or one whose holder let its lease
    run out (it died). None when the session is missing, expired, completed or held by another."""
    with conn.cursor(row_factory=class_row(UploadSessionRow)) as cur:
        cur.execute(
            "UPDATE upload_sessions SET state = 'completing', lease_owner = %(owner)s,"
            " lease_expires_at = clock_timestamp() + make_interval(secs => %(lease)s)"
            " WHERE id = %(id)s AND ((state = 'completing' AND lease_owner = %(owner)s)"
            "  OR (expires_at > clock_timestamp() AND (state = 'open'"
            "      OR (state = 'completing' AND lease_expires_at < clock_timestamp()))))"
            f" RETURNING {_SESSION_COLUMNS}",
            {"id": upload_id, "owner": owner, "lease": lease_seconds},
        )
        return cur.fetchone()


def release_upload_session(
    conn: psycopg.Connection[Any], /, *, upload_id: uuid.UUID, owner: uuid.UUID
) -> None:
    """Gives the lease back (the file was not there yet, or the store failed): a retry may claim
    the session at once."""
    conn.execute(
        "UPDATE upload_sessions SET state = 'open', lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id = %s AND state = 'completing' AND lease_owner = %s",
        (upload_id, owner),
    )


def finish_upload_session(conn: psycopg.Connection[Any], /, *, upload_id: uuid.UUID, owner: uuid.UUID) -> str:
    """Marks the session completed if owner still holds its lease: "finished"; "completed" when it
    was already (by an earlier attempt or by whoever took it over); "lost" otherwise."""
    cur = conn.execute(
        "UPDATE upload_sessions SET state = 'completed', completed_at = clock_timestamp(),"
        " lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id = %s AND state = 'completing' AND lease_owner = %s",
        (upload_id, owner),
    )
    if cur.rowcount:
        return "finished"
    row = conn.execute("SELECT state FROM upload_sessions WHERE id = %s", (upload_id,)).fetchone()
    return "completed" if row is not None and row[0] == "completed" else "lost"


def delete_claimed_upload_session(
    conn: psycopg.Connection[Any], /, *, upload_id: uuid.UUID, owner: uuid.UUID
) -> None:
    """A refused file ends its session, if owner still holds the lease."""
    conn.execute(
        "DELETE FROM upload_sessions WHERE id = %s AND state = 'completing' AND lease_owner = %s",
        (upload_id, owner),
    )


def delete_upload_sessions(conn: psycopg.Connection[Any], /, *, upload_ids: list[uuid.UUID]) -> int:
    """Deletes these sessions, but for one a complete holds the lease of."""
    return conn.execute(
        "DELETE FROM upload_sessions WHERE id = ANY(%s)"
        " AND NOT (state = 'completing' AND lease_expires_at >= clock_timestamp())",
        (upload_ids,),
    ).rowcount


def unpublished_image_keys(
    conn: psycopg.Connection[Any], /, *, keys: list[str], image_ids: list[uuid.UUID | None]
) -> list[str]:
    """Of these images/ keys (and the image ids they name), those that no row points at and that no
    upload is publishing now. Locks the sessions and idempotency keys that could publish them
    until the transaction ends: a complete or a retried upload claims them only after that."""
    ids = [i for i in image_ids if i is not None]
    conn.execute("SELECT 1 FROM upload_sessions WHERE image_id = ANY(%s) FOR UPDATE", (ids,))
    conn.execute(
        "SELECT 1 FROM idempotency_keys WHERE resource_id = ANY(%s) AND state = 'processing' FOR UPDATE",
        (ids,),
    )
    cur = conn.execute(
        "SELECT c.key FROM unnest(%s::text[], %s::uuid[]) AS c(key, image_id)"
        " WHERE NOT EXISTS (SELECT 1 FROM images WHERE id = c.image_id)"
        " AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.image_id = c.image_id"
        "  AND s.state = 'completing' AND s.lease_expires_at >= clock_timestamp())"
        " AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.resource_id = c.image_id"
        "  AND k.state = 'processing' AND k.lease_expires_at >= clock_timestamp())",
        (keys, image_ids),
    )
    return [row[0] for row in cur]


def expired_upload_sessions(conn: psycopg.Connection[Any], /) -> list[UploadSessionRow]:
    """Sessions past their expiry, but for one a complete is working on (its lease not run out)."""
    with conn.cursor(row_factory=class_row(UploadSessionRow)) as cur:
        cur.execute(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE expires_at < clock_timestamp()"
            " AND NOT (state = 'completing' AND lease_expires_at >= clock_timestamp()) ORDER BY id"
        )
        return cur.fetchall()


def open_incoming_keys(conn: psycopg.Connection[Any], /) -> set[str]:
    """The incoming objects that a session may still complete, or that a complete is reading."""
    cur = conn.execute(
        "SELECT incoming_key FROM upload_sessions"
        " WHERE (state IN ('open', 'completing') AND expires_at >= clock_timestamp())"
        " OR (state = 'completing' AND lease_expires_at >= clock_timestamp())"
    )
    return {row[0] for row in cur}


def delete_image(conn: psycopg.Connection[Any], /, *, image_id: uuid.UUID) -> ImageRow | None:
    """Deletes the row and returns it, or None when there was none."""
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        cur.execute(f"DELETE FROM images WHERE id = %s RETURNING {_COLUMNS}", (image_id,))
        return cur.fetchone()
