"""Upload sessions: files of any size without passing through the function.

POST /api/v1/uploads signs a PUT straight to S3, under incoming/; POST .../complete then checks
the object as the multipart route checks a body (streamed through the same ImageInspector),
copies it to images/<id> and writes the row. Nothing under incoming/ is ever served."""

from __future__ import annotations

import base64
import logging
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse

from imageapi.core.errors import ApiError, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from imageapi.core.schemas import (
    ImageCreate,
    ImageRow,
    UploadRequest,
    UploadSessionCreate,
    UploadSessionPublic,
    UploadSessionRow,
)
from imageapi.core.settings import Settings
from imageapi.formats.imaging import ACCEPTED_TYPES, UNSUPPORTED_TYPE
from imageapi.formats.inspection import ImageInspector
from imageapi.http.descriptions import clean_description
from imageapi.http.filenames import sanitize_filename
from imageapi.http.links import base_url, image_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database
from imageapi.store.storage import ObjectChanged, ObjectMissing, Storage

INCOMING_PREFIX = "incoming/"
UPLOADS_PATH = "/api/v1/uploads"
_UNDECLARED_TYPE = "application/octet-stream"  # always signed: some stores mangle a PUT without one

log = logging.getLogger(__name__)


class Conflict(ApiError):
    status_code = 409


def create_session(
    request: Request, *, body: UploadSessionCreate, db: Database, storage: Storage, settings: Settings
) -> JSONResponse:
    """201 with the upload id, its expiry and the PUT the client must send. Signing is local:
    nothing touches S3 here."""
    description = clean_description(body.description)
    if body.size_bytes > settings.max_session_upload_bytes:
        raise PayloadTooLarge(
            f"The file is larger than {settings.max_session_upload_bytes} bytes, the most an upload accepts"
        )
    if body.content_type is not None and body.content_type.lower() not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(UNSUPPORTED_TYPE)
    upload_id = uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.upload_session_seconds)
    session = db.run(
        repository.insert_upload_session,
        session=UploadSessionRow(
            id=upload_id,
            image_id=uuid.uuid4(),
            incoming_key=f"{INCOMING_PREFIX}{upload_id}",
            description=description,
            # Control characters go now (PostgreSQL text cannot hold NUL); the rest at complete,
            # once the real type gives the extension.
            filename="".join(ch for ch in body.filename if unicodedata.category(ch) != "Cc"),
            size_bytes=body.size_bytes,
            sha256=body.sha256.lower() if body.sha256 else None,
            created_at=datetime.now(UTC),
            expires_at=expires_at,
            completed_at=None,
        ),
    )
    url, headers = storage.presigned_put(
        key=session.incoming_key,
        size=session.size_bytes,
        content_type=(body.content_type or _UNDECLARED_TYPE).lower(),
        sha256_base64=base64.b64encode(bytes.fromhex(session.sha256)).decode() if session.sha256 else None,
        expires_in=settings.upload_session_seconds,
    )
    complete_url = f"{base_url(request)}{UPLOADS_PATH}/{upload_id}/complete"
    public = UploadSessionPublic(
        upload_id=upload_id,
        expires_at=session.expires_at.astimezone(UTC),
        upload=UploadRequest(method="PUT", url=url, headers=headers),
        complete_url=complete_url,
    )
    return JSONResponse(
        public.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"}
    )


def complete_session(
    request: Request, *, upload_id: uuid.UUID, db: Database, storage: Storage, settings: Settings
) -> JSONResponse:
    """201 with the image's metadata and Location, as POST /api/v1/images/ answers; the same
    image however often it is called."""
    row = db.run(_complete, upload_id=upload_id, storage=storage, settings=settings)
    base = base_url(request)
    return JSONResponse(
        to_public(row, base=base).model_dump(mode="json"),
        status_code=201,
        headers={"Location": image_url(base, row.id)},
    )


def _complete(
    conn: psycopg.Connection[Any], /, *, upload_id: uuid.UUID, storage: Storage, settings: Settings
) -> ImageRow:
    """Under the session's row lock: a concurrent complete waits, then finds the image made.
    A refused file loses its session and its object; a store failure leaves both for a retry."""
    refusal: ApiError | None = None
    copied: str | None = None
    row: ImageRow | None = None
    try:
        with conn.transaction():
            session = repository.lock_upload_session(conn, upload_id=upload_id)
            if session is None or (session.completed_at is None and session.expires_at <= datetime.now(UTC)):
                raise NotFound("Upload session not found or expired")
            if session.completed_at is not None:
                done = repository.get_image(conn, image_id=session.image_id)
                if done is None:  # removed since (a lost object, reconciled)
                    raise NotFound("The image of this upload session no longer exists")
                return done
            try:
                image, etag = _check(session, storage=storage, settings=settings)
            except ObjectMissing:
                raise Conflict("The file has not been uploaded yet: PUT it to the upload URL first") from None
            except ApiError as exc:
                if exc.status_code >= 500:  # the store failed, not the file: keep all for a retry
                    raise
                repository.delete_upload_sessions(conn, upload_ids=[upload_id])
                refusal = exc
            else:
                try:
                    storage.copy(
                        source_key=session.incoming_key,
                        key=image.object_key,
                        content_type=image.content_type,
                        if_match=etag,
                    )
                except ObjectChanged:
                    raise Conflict(
                        "The file changed while it was checked: complete the upload again"
                    ) from None
                copied = image.object_key
                row = repository.insert_image(conn, image=image)
                repository.mark_upload_session_completed(conn, upload_id=upload_id)
    except BaseException:
        if copied is not None:  # the row was not written: the copy must not outlive it
            _delete_quietly(storage, copied)
        raise
    _delete_quietly(storage, session.incoming_key)  # reconcile removes what this misses
    if refusal is not None:
        raise refusal
    assert row is not None
    log.info("upload completed", extra={"fields": {"upload_id": str(upload_id), "image_id": str(row.id)}})
    return row


def _check(session: UploadSessionRow, *, storage: Storage, settings: Settings) -> tuple[ImageCreate, str]:
    """Streams the incoming object through the inspector; the image to write and the ETag of the
    bytes checked. Raises the same refusals as the multipart route."""
    stored = storage.open(key=session.incoming_key, verify=False)
    if stored.size != session.size_bytes:
        stored.body.close()
        raise Unprocessable(
            f"The uploaded file is {stored.size} bytes, but the session declared {session.size_bytes}"
        )
    inspector = ImageInspector()
    chunks = stored.chunks()
    try:
        for chunk in chunks:
            inspector.feed(chunk)
    finally:
        chunks.close()  # at once when a chunk is refused, not when collected
    if inspector.size != session.size_bytes:
        raise Unprocessable("The uploaded file changed size while it was read")
    digest = inspector.sha256.hexdigest()
    if session.sha256 is not None and digest != session.sha256:
        raise Unprocessable("The uploaded file's SHA-256 does not match the declared one")
    info = inspector.finish(max_pixels=settings.max_image_pixels)
    image = ImageCreate(
        id=session.image_id,
        object_key=f"images/{session.image_id}",
        description=session.description,
        filename=sanitize_filename(session.filename, extension=info.extension),
        content_type=info.content_type,
        size_bytes=inspector.size,
        sha256=digest,
        width=info.width,
        height=info.height,
        orientation=info.orientation,
    )
    return image, stored.etag


def _delete_quietly(storage: Storage, key: str) -> None:
    try:
        storage.delete(key=key)
    except ApiError:
        log.error("could not delete an object; reconcile will", extra={"fields": {"key": key}})
