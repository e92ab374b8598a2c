"""GET /api/v1/images/{id}: one image's metadata."""

from __future__ import annotations

import uuid

from fastapi import Request

from . import repository
from .db import Database
from .errors import NotFound
from .links import base_url, to_public
from .schemas import ImagePublic, ImageRow


def get_row(*, image_id: uuid.UUID, db: Database) -> ImageRow:
    """The image's row, or 404."""
    row = db.run(repository.get_image, image_id=image_id)
    if row is None:
        raise NotFound("Image not found")
    return row


def find_image(request: Request, *, image_id: uuid.UUID, db: Database) -> ImagePublic:
    return to_public(get_row(image_id=image_id, db=db), base=base_url(request))
