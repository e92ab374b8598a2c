"""GET /api/v1/images/{id}: one image's metadata."""

from __future__ import annotations

import uuid

from fastapi import Request

from imageapi.core.errors import NotFound
from imageapi.core.schemas import ImagePublic, ImageRow
from imageapi.http.links import base_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database


def get_row(*, image_id: uuid.UUID, db: Database) -> ImageRow:
    """The image's row, or 404."""
    row = db.run(repository.get_image, image_id=image_id)
    if row is None:
        raise NotFound("Image not found")
    return row


def find_image(request: Request, *, image_id: uuid.UUID, db: Database) -> ImagePublic:
    return to_public(get_row(image_id=image_id, db=db), base=base_url(request))
