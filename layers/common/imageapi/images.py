"""GET /api/v1/images/{id}: one image's metadata."""

from __future__ import annotations

import uuid

from fastapi import Request

from . import repository
from .db import Database
from .errors import NotFound
from .links import to_public
from .schemas import ImagePublic


def find_image(request: Request, *, image_id: uuid.UUID, db: Database) -> ImagePublic:
    row = db.run(repository.get_image, image_id=image_id)
    if row is None:
        raise NotFound("Image not found")
    return to_public(row, request)
