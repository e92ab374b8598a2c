"""GET /api/v1/images/{id}/thumbnail?size=N: made with Pillow on the first request, stored
under thumbnails/<id>/<size>.webp, and served from there afterwards."""

from __future__ import annotations

import logging
import uuid

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from imageapi.core.errors import ApiError, NotFound, StorageUnavailable, Unprocessable
from imageapi.core.schemas import ImageRow
from imageapi.core.settings import Settings
from imageapi.formats.rendering import RENDER_VERSION, Undecodable, render_thumbnail
from imageapi.http.conditional import none_match
from imageapi.store import repository
from imageapi.store.db import Database
from imageapi.store.layout import thumbnail_key
from imageapi.store.storage import ObjectMissing, Storage

from .images import get_row

log = logging.getLogger(__name__)

CONTENT_TYPE = "image/webp"
# Private: with API_TOKENS set a thumbnail is not for shared caches. Immutable: an id's bytes
# never change, and neither does what a size of them looks like (RENDER_VERSION is in the ETag).
CACHE_CONTROL = "private, max-age=31536000, immutable"


class OriginalMissing(ApiError):
    status_code = 500


async def thumbnail_response(
    request: Request, *, image_id: uuid.UUID, size: int, db: Database, storage: Storage, settings: Settings
) -> Response:
    row = await run_in_threadpool(get_row, image_id=image_id, db=db)
    # Strong: a thumbnail is a deterministic function of the original, the size and the renderer.
    etag = f'"{row.sha256[:32]}-{size}-r{RENDER_VERSION}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    data = await run_in_threadpool(get_or_make, row, size=size, db=db, storage=storage, settings=settings)
    return Response(data, media_type=CONTENT_TYPE, headers=headers)


def get_or_make(row: ImageRow, *, size: int, db: Database, storage: Storage, settings: Settings) -> bytes:
    """The stored thumbnail, or a new one rendered from the original and stored (blocking)."""
    key = thumbnail_key(row.id, size)
    try:
        return storage.read(key=key)
    except ObjectMissing:
        pass
    # What the function's memory was sized for (bench/thumbnails.py), and never above the upload limit.
    max_pixels = min(settings.thumbnail_max_pixels, settings.max_image_pixels)
    if row.width and row.height and row.width * row.height > max_pixels:
        raise Unprocessable(f"No thumbnail: the image has more than {max_pixels} pixels")
    try:
        original = storage.read(key=row.object_key)
    except ObjectMissing:
        raise OriginalMissing("The file of this image is missing from storage") from None
    try:
        data = render_thumbnail(original, size=size, max_pixels=max_pixels)
    except Undecodable as exc:
        # Only this thumbnail fails: the original stays downloadable.
        raise Unprocessable(f"No thumbnail: {exc}") from None
    try:
        storage.put(key=key, data=data, content_type=CONTENT_TYPE, cache_control=CACHE_CONTROL)
    except StorageUnavailable:
        log.warning("could not store a thumbnail; the next request renders it again")
        return data
    # A DELETE while this rendered removed the row, and then the thumbnails that existed. This
    # one may have been stored after that: asked after storing, either the row is gone here,
    # or the DELETE comes later and removes this thumbnail itself.
    if db.run(repository.get_image, image_id=row.id) is None:
        try:
            storage.delete(key=key)
        except StorageUnavailable:
            log.warning("a thumbnail of a deleted image left for reconcile", extra={"fields": {"key": key}})
        raise NotFound("Image not found")
    return data


THUMBNAIL_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The thumbnail, a WebP whose longest side is the size asked for (or the original's)",
        "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
}
