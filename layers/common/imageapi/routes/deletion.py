"""DELETE /api/v1/images/{id}: the row first, then the object and every thumbnail.

The row goes first so that nothing ever points at a deleted file: once the row is gone the
image is gone for every client, whatever happens to its objects. An object that cannot be
deleted now is left for reconcile, which removes objects and thumbnails without a row."""

from __future__ import annotations

import logging
import uuid

from imageapi.core.errors import NotFound, StorageUnavailable
from imageapi.store import repository
from imageapi.store.db import Database
from imageapi.store.layout import image_key, thumbnail_keys
from imageapi.store.storage import Storage

log = logging.getLogger(__name__)


def delete_image(*, image_id: uuid.UUID, db: Database, storage: Storage) -> None:
    """Blocking. 404 when there is no such image (also on a second delete). The objects are
    removed either way: a delete whose reply was lost, retried, finds no row but must still
    leave nothing in the bucket."""
    row = db.run(repository.delete_image, image_id=image_id)
    keys = [image_key(image_id), *thumbnail_keys(image_id)]
    try:
        failed = storage.delete_many(keys=keys)
    except StorageUnavailable:
        failed = keys
    if failed and row is not None:
        log.warning(
            "objects of a deleted image left for reconcile",
            extra={"fields": {"image_id": str(image_id), "objects": len(failed)}},
        )
    if row is None:
        raise NotFound("Image not found")
