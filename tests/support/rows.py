"""Rows written straight through the layer's repository, for tests about the table itself."""

from __future__ import annotations

import uuid

from imageapi.core.schemas import ImageCreate


def image_row(
    image_id: uuid.UUID | None = None, *, object_key: str | None = None, size_bytes: int = 1
) -> ImageCreate:
    """A 1x1 PNG's metadata under images/<id> (or object_key); nothing is put in the bucket."""
    image_id = image_id or uuid.uuid4()
    return ImageCreate(
        id=image_id,
        object_key=object_key or f"images/{image_id}",
        description="a row",
        filename="row.png",
        content_type="image/png",
        size_bytes=1,
        sha256="0" * 64,
        width=1,
        height=1,
        orientation=None,
    )
