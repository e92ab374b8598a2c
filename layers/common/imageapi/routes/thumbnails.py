"""GET /api/v1/images/{id}/thumbnail?size=N: made with Pillow on the first request, stored
under thumbnails/<id>/<size>.webp, and served from there afterwards.

One render per image and size at a time: a process's threads queue on a lock of that key (the
dev server), environments on a lease row in thumbnail_renders (Lambda), and a waiter serves the
object the holder stores. The memory a render takes is estimated before decoding and bounded.
A failed render is remembered in that row and answered again without decoding
(docs/thumbnails.md)."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from imageapi.core.concurrency import ByteBudget, KeyedLocks
from imageapi.core.errors import (
    ApiError,
    DatabaseUnavailable,
    NotFound,
    ServiceUnavailable,
    StorageUnavailable,
    Unprocessable,
)
from imageapi.core.schemas import ImageRow
from imageapi.core.settings import Settings
from imageapi.formats.rendering import RENDER_VERSION, Undecodable, render_thumbnail
from imageapi.http.caching import PRIVATE, immutable
from imageapi.http.conditional import none_match
from imageapi.http.deadlines import Deadline
from imageapi.store import repository, thumbnail_renders
from imageapi.store.db import Database
from imageapi.store.layout import thumbnail_key
from imageapi.store.storage import ObjectMissing, Storage

from .images import get_row

log = logging.getLogger(__name__)

CONTENT_TYPE = "image/webp"
# Immutable (http/caching): an id's bytes never change, and neither does what a size of them
# looks like (RENDER_VERSION is in the ETag).
# How often a request whose thumbnail another environment renders looks for its object.
POLL_SECONDS = 0.25
# A lease outlives its holder's request by this much: it runs out only when the holder died.
LEASE_MARGIN_SECONDS = 2.0

_renders = KeyedLocks()  # (image id, size) -> the thread rendering it in this process
_memory = ByteBudget()  # what this process's renders hold together


class OriginalMissing(ApiError):
    status_code = 500


class RenderBusy(ServiceUnavailable):
    """The thumbnail is being made, or memory for it is held by others, past the request's time."""


@dataclass(frozen=True)
class RenderLimits:
    max_pixels: int
    max_decode_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> RenderLimits:
        # What the function's memory was sized for (bench/thumbnails.py), never above the upload limit.
        return cls(
            min(settings.thumbnail_max_pixels, settings.max_image_pixels), settings.thumbnail_max_decode_bytes
        )

    @property
    def fingerprint(self) -> str:
        """A remembered failure holds only for the renderer and limits it happened under."""
        return f"r{RENDER_VERSION}/{self.max_pixels}/{self.max_decode_bytes}"


async def thumbnail_response(
    request: Request, *, image_id: uuid.UUID, size: int, db: Database, storage: Storage, settings: Settings
) -> Response:
    row = await run_in_threadpool(get_row, image_id=image_id, db=db)
    # Strong: a thumbnail is a deterministic function of the original, the size and the renderer.
    etag = f'"{row.sha256[:32]}-{size}-r{RENDER_VERSION}"'
    headers = {"ETag": etag, "Cache-Control": immutable(settings), "X-Content-Type-Options": "nosniff"}
    deadline = Deadline.of(request, settings)
    make = functools.partial(get_or_make, row, size=size, db=db, storage=storage, settings=settings)
    if none_match(request.headers.get("if-none-match"), etag):
        # 304 only for a thumbnail that exists or can be made: a GET's 422 stays a 422.
        if not await run_in_threadpool(storage.exists, key=thumbnail_key(row.id, size)):
            await run_in_threadpool(make, deadline=deadline)
        return Response(status_code=304, headers=headers)
    data = await run_in_threadpool(make, deadline=deadline)
    return Response(data, media_type=CONTENT_TYPE, headers=headers)


def get_or_make(
    row: ImageRow, *, size: int, db: Database, storage: Storage, settings: Settings, deadline: Deadline
) -> bytes:
    """The stored thumbnail, or a new one rendered from the original and stored (blocking)."""
    key = thumbnail_key(row.id, size)
    if (stored := _stored(storage, key)) is not None:
        return stored
    limits = RenderLimits.of(settings)
    if row.width and row.height and row.width * row.height > limits.max_pixels:
        raise Unprocessable(f"No thumbnail: the image has more than {limits.max_pixels} pixels")
    with _renders.hold((row.id, size), timeout=deadline.remaining()) as held:
        if not held:
            raise RenderBusy("The thumbnail is being made, try again later")
        if (stored := _stored(storage, key)) is not None:  # made while this request waited
            return stored
        return _make_under_lease(
            row, key=key, size=size, db=db, storage=storage, limits=limits, deadline=deadline
        )


def _make_under_lease(
    row: ImageRow,
    *,
    key: str,
    size: int,
    db: Database,
    storage: Storage,
    limits: RenderLimits,
    deadline: Deadline,
) -> bytes:
    owner = uuid.uuid4()
    while True:
        claim = db.run(
            thumbnail_renders.claim_render,
            image_id=row.id,
            size=size,
            owner=owner,
            lease_seconds=deadline.remaining() + LEASE_MARGIN_SECONDS,
            failed_under=limits.fingerprint,
        )
        if claim.claimed:
            break
        if claim.failure is not None:
            raise Unprocessable(claim.failure)
        if claim.image_missing:
            raise NotFound("Image not found")
        # Another environment renders it: wait for its object, or for its lease to end.
        if deadline.passed(keep=POLL_SECONDS):
            raise RenderBusy("The thumbnail is being made, try again later")
        time.sleep(POLL_SECONDS)
        if (stored := _stored(storage, key)) is not None:
            return stored
    try:
        data = _render(row, size=size, storage=storage, limits=limits, deadline=deadline)
    except Unprocessable as exc:
        _remember_failure(db, row.id, size, owner, failure=exc.detail, failed_under=limits.fingerprint)
        raise
    except BaseException:
        _end_lease(db, row.id, size, owner)
        raise
    try:
        return _store(row, key=key, data=data, db=db, storage=storage)
    finally:  # after storing: a waiter finds the object, not a free lease to render again
        _end_lease(db, row.id, size, owner)


def _render(row: ImageRow, *, size: int, storage: Storage, limits: RenderLimits, deadline: Deadline) -> bytes:
    try:
        original = storage.read(key=row.object_key)
    except ObjectMissing:
        raise OriginalMissing("The file of this image is missing from storage") from None

    @contextmanager
    def reserve(amount: int) -> Iterator[None]:
        with _memory.reserve(amount, limit=limits.max_decode_bytes, timeout=deadline.remaining()) as fitted:
            if not fitted:
                raise RenderBusy("Thumbnails are being made, try again later")
            yield

    started = time.perf_counter()
    try:
        data = render_thumbnail(
            original,
            size=size,
            max_pixels=limits.max_pixels,
            max_decode_bytes=limits.max_decode_bytes,
            reserve=reserve,
        )
    except Undecodable as exc:
        # Only this thumbnail fails: the original stays downloadable.
        raise Unprocessable(f"No thumbnail: {exc}") from None
    seconds = time.perf_counter() - started
    log.info(
        "thumbnail rendered", extra={"fields": {"image_id": str(row.id), "size": size, "seconds": seconds}}
    )
    return data


def _store(row: ImageRow, *, key: str, data: bytes, db: Database, storage: Storage) -> bytes:
    try:
        # The route answers with its own Cache-Control; the object is never served straight.
        storage.put(key=key, data=data, content_type=CONTENT_TYPE, cache_control=PRIVATE)
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


def _stored(storage: Storage, key: str) -> bytes | None:
    try:
        return storage.read(key=key)
    except ObjectMissing:
        return None


def _remember_failure(
    db: Database, image_id: uuid.UUID, size: int, owner: uuid.UUID, *, failure: str, failed_under: str
) -> None:
    try:
        db.run(
            thumbnail_renders.record_failure,
            image_id=image_id,
            size=size,
            owner=owner,
            failure=failure,
            failed_under=failed_under,
        )
    except DatabaseUnavailable:  # the 422 still goes out; its lease runs out by itself
        log.warning("a failed thumbnail render not remembered", extra={"fields": {"image_id": str(image_id)}})


def _end_lease(db: Database, image_id: uuid.UUID, size: int, owner: uuid.UUID) -> None:
    try:
        db.run(thumbnail_renders.end_render, image_id=image_id, size=size, owner=owner)
    except DatabaseUnavailable:  # it runs out by itself
        log.warning(
            "a thumbnail render's lease left to expire", extra={"fields": {"image_id": str(image_id)}}
        )


THUMBNAIL_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The thumbnail, a WebP whose longest side is the size asked for (or the original's)",
        "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "Not modified (If-None-Match matched, and the thumbnail exists or can be made)"},
    503: {"description": "The thumbnail is being made and was not ready within the request's time; retry"},
}
