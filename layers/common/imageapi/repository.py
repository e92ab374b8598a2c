"""Parameterised SQL over the images table. Each function takes the connection first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from .schemas import ImageCreate, ImageRow

_COLUMNS = (
    "id, object_key, description, filename, content_type, size_bytes, sha256, width, height, created_at"
)


def insert_image(conn: psycopg.Connection[Any], /, *, image: ImageCreate) -> ImageRow:
    """Idempotent by id, so a retry after a dropped connection cannot insert twice."""
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        cur.execute(
            "INSERT INTO images (id, object_key, description, filename, content_type,"
            " size_bytes, sha256, width, height)"
            " VALUES (%(id)s, %(object_key)s, %(description)s, %(filename)s, %(content_type)s,"
            " %(size_bytes)s, %(sha256)s, %(width)s, %(height)s)"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}",
            image.model_dump(),
        )
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


def list_images(
    conn: psycopg.Connection[Any], /, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[ImageRow]:
    """Newest first, keyset on (created_at, id): stable while uploads happen."""
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        if after is None:
            cur.execute(f"SELECT {_COLUMNS} FROM images ORDER BY created_at DESC, id DESC LIMIT %s", (limit,))
        else:
            cur.execute(
                f"SELECT {_COLUMNS} FROM images WHERE (created_at, id) < (%s, %s)"
                " ORDER BY created_at DESC, id DESC LIMIT %s",
                (*after, limit),
            )
        return cur.fetchall()


def object_keys(conn: psycopg.Connection[Any], /) -> set[str]:
    return {row[0] for row in conn.execute("SELECT object_key FROM images")}


def delete_images(conn: psycopg.Connection[Any], /, *, object_keys: list[str]) -> int:
    cur = conn.execute("DELETE FROM images WHERE object_key = ANY(%s)", (object_keys,))
    return cur.rowcount


def delete_image(conn: psycopg.Connection[Any], /, *, image_id: uuid.UUID) -> ImageRow | None:
    """Deletes the row and returns it, or None when there was none."""
    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
        cur.execute(f"DELETE FROM images WHERE id = %s RETURNING {_COLUMNS}", (image_id,))
        return cur.fetchone()


def image_ids(conn: psycopg.Connection[Any], /) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT id FROM images")}
