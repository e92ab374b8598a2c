"""Upload sessions: files of any size without passing through the function.

POST /api/v1/uploads signs a PUT straight to S3, under incoming/; POST .../complete then claims
the session, streams the object through the same ImageInspector as the multipart route and, as
it goes, into images/<id>, and publishes it the same way (store.publish). Nothing under
incoming/ is ever served."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from imageapi.core.errors import (
    ApiError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
    UnsupportedMediaType,
)
from imageapi.core.schemas import (
    ImageCreate,
    ImageRow,
    UploadRequest,
    UploadSessionCreate,
    UploadSessionPublic,
    UploadSessionRow,
)
from imageapi.core.settings import Settings
from imageapi.formats.imaging import ACCEPTED_TYPES, UNSUPPORTED_TYPE, accepted_type
from imageapi.formats.inspection import ImageInspector
from imageapi.http.clients import owner_key
from imageapi.http.deadlines import Deadline
from imageapi.http.descriptions import clean_description
from imageapi.http.filenames import bounded_filename, sanitize_filename
from imageapi.http.idempotency import fingerprint, idempotent
from imageapi.http.links import base_url, image_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database
from imageapi.store.layout import image_key
from imageapi.store.publish import LeaseLost, SessionLease, publish
from imageapi.store.repository import PendingLimitReached
from imageapi.store.storage import ObjectMissing, Storage, StreamingUpload

INCOMING_PREFIX = "incoming/"
UPLOADS_PATH = "/api/v1/uploads"
CREATE_ROUTE = "POST /api/v1/uploads"  # what Idempotency-Key values are scoped to
COMPLETE_ROUTE = "POST /api/v1/uploads/{upload_id}/complete"
_UNDECLARED_TYPE = "application/octet-stream"  # always signed: some stores mangle a PUT without one

log = logging.getLogger(__name__)


# S3 work stops this long before the request's deadline, leaving it to the row's transaction
# (and, if its reply is lost, to asking whether it committed).
PUBLISH_SECONDS = 6.0
# A lease outlives its holder's deadline by this much: by then the holder has answered or ended.
LEASE_MARGIN_SECONDS = 10.0
# A second complete of one session waits this long for the first one's outcome, then answers 409.
WAIT_FOR_OTHER_SECONDS = 3.0
POLL_SECONDS = 0.2


class Conflict(ApiError):
    status_code = 409


class CompleteTooSlow(ServiceUnavailable):
    pass


async def create_session(
    request: Request, *, body: UploadSessionCreate, db: Database, storage: Storage, settings: Settings
) -> JSONResponse:
    """201 with the upload id, its expiry and the PUT the client must send; with an
    Idempotency-Key, once."""

    async def work(upload_id: uuid.UUID, _: bool) -> tuple[JSONResponse, str]:
        response = await run_in_threadpool(
            _create_session,
            request,
            upload_id=upload_id,
            body=body,
            db=db,
            storage=storage,
            settings=settings,
        )
        return response, asked

    asked = fingerprint(body.model_dump_json())
    deadline = Deadline.of(request, settings)
    return await idempotent(
        request, route=CREATE_ROUTE, db=db, lease_seconds=deadline.remaining(), work=work, fingerprint=asked
    )


def _create_session(
    request: Request,
    *,
    upload_id: uuid.UUID,
    body: UploadSessionCreate,
    db: Database,
    storage: Storage,
    settings: Settings,
) -> JSONResponse:
    """Signing is local: nothing touches S3 here. A retry after a lost reply (the same
    upload_id) returns the session the first attempt made."""
    description = clean_description(body.description)
    if body.size_bytes > settings.max_session_upload_bytes:
        raise PayloadTooLarge(
            f"The file is larger than {settings.max_session_upload_bytes} bytes, the most an upload accepts"
        )
    if body.content_type is not None and body.content_type.lower() not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(UNSUPPORTED_TYPE)
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.upload_session_seconds)
    limit = settings.max_pending_upload_sessions
    try:
        session = db.run(
            repository.insert_upload_session,
            session=UploadSessionRow(
                id=upload_id,
                image_id=uuid.uuid4(),
                incoming_key=f"{INCOMING_PREFIX}{upload_id}",
                description=description,
                # Cleaned and cut now; given its final extension at complete, once the real
                # type is known.
                filename=bounded_filename(body.filename),
                size_bytes=body.size_bytes,
                sha256=body.sha256.lower() if body.sha256 else None,
                created_at=datetime.now(UTC),
                expires_at=expires_at,
                completed_at=None,
                owner_key=owner_key(request),
            ),
            max_pending=limit,
        )
    except PendingLimitReached as exc:
        raise TooManyRequests(
            f"{limit} upload sessions are pending already: complete one, or retry after Retry-After"
            " seconds, when the oldest expires",
            retry_after_seconds=exc.seconds,
        ) from None
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


async def complete_session(
    request: Request, *, upload_id: uuid.UUID, db: Database, storage: Storage, settings: Settings
) -> JSONResponse:
    """201 with the image's metadata and Location, as POST /api/v1/images/ answers; the same
    image however often it is called. With an Idempotency-Key, a refusal is replayed too."""
    deadline = Deadline.of(request, settings)

    async def work(_: uuid.UUID, __: bool) -> tuple[JSONResponse, str]:
        row = await run_in_threadpool(
            complete, upload_id=upload_id, db=db, storage=storage, settings=settings, deadline=deadline
        )
        base = base_url(request)
        response = JSONResponse(
            to_public(row, base=base).model_dump(mode="json"),
            status_code=201,
            headers={"Location": image_url(base, row.id)},
        )
        return response, asked

    asked = fingerprint(str(upload_id))
    return await idempotent(
        request, route=COMPLETE_ROUTE, db=db, lease_seconds=deadline.remaining(), work=work, fingerprint=asked
    )


def complete(
    *, upload_id: uuid.UUID, db: Database, storage: Storage, settings: Settings, deadline: Deadline
) -> ImageRow:
    """Claims the session's lease, checks the incoming file while streaming exactly those bytes
    to images/<id>, then publishes. No transaction or row lock is held across S3 work. A refused
    file loses its session and its object; a store failure or a file not sent yet gives the
    lease back for a retry."""
    owner = uuid.uuid4()
    claimed = _claim(upload_id=upload_id, owner=owner, db=db, deadline=deadline)
    if isinstance(claimed, ImageRow):
        return claimed
    session, lease = claimed, SessionLease(upload_id=upload_id, owner=owner)
    inspector = ImageInspector()
    upload = StreamingUpload(
        storage,
        key=image_key(session.image_id),
        content_type=lambda: accepted_type(inspector.head),
        part_bytes=settings.s3_part_bytes,
        parts_in_flight=settings.s3_parts_in_flight,
    )
    try:
        image = _check(
            session, inspector=inspector, upload=upload, storage=storage, settings=settings, deadline=deadline
        )
    except ObjectMissing:
        upload.discard()
        _release(db, lease)
        raise Conflict("The file has not been uploaded yet: PUT it to the upload URL first") from None
    except ApiError as exc:
        upload.discard()
        if exc.status_code >= 500:  # the store failed, not the file: keep all for a retry
            _release(db, lease)
            raise
        db.run(repository.delete_claimed_upload_session, upload_id=upload_id, owner=owner)
        _delete_quietly(storage, session.incoming_key)
        raise
    except BaseException:
        upload.discard()
        _release(db, lease)
        raise
    try:
        row = publish(upload, image, db=db, lease=lease, timeout=max(1.0, deadline.remaining(keep=0.5)))
    except LeaseLost:
        raise
    except BaseException:
        upload.discard()  # parts of an object never made visible; a no-op where publish kept it
        _release(db, lease)  # a no-op where the row did commit: the session is completed
        raise
    _delete_quietly(storage, session.incoming_key)  # reconcile removes what this misses
    log.info("upload completed", extra={"fields": {"upload_id": str(upload_id), "image_id": str(row.id)}})
    return row


def _claim(
    *, upload_id: uuid.UUID, owner: uuid.UUID, db: Database, deadline: Deadline
) -> UploadSessionRow | ImageRow:
    """The session, now leased to owner; or the image when the session is completed already,
    also by a concurrent complete this one waited for. 409 if that one is still at work."""
    give_up = time.monotonic() + min(WAIT_FOR_OTHER_SECONDS, deadline.remaining(keep=1))
    while True:
        claimed = db.run(
            repository.claim_upload_session,
            upload_id=upload_id,
            owner=owner,
            lease_seconds=deadline.remaining() + LEASE_MARGIN_SECONDS,
        )
        if claimed is not None:
            return claimed
        session = db.run(repository.get_upload_session, upload_id=upload_id)
        if session is None or session.state == "open":  # gone, or expired before completing
            raise NotFound("Upload session not found or expired")
        if session.state == "completed":
            done = db.run(repository.get_image, image_id=session.image_id)
            if done is None:  # deleted since
                raise NotFound("The image of this upload session no longer exists")
            return done
        if time.monotonic() >= give_up:
            raise LeaseLost()  # 409 with Retry-After: another complete is at work
        time.sleep(POLL_SECONDS)


def _release(db: Database, lease: SessionLease) -> None:
    try:
        db.run(repository.release_upload_session, upload_id=lease.upload_id, owner=lease.owner)
    except ApiError:
        log.warning("could not give an upload session's lease back; it runs out by itself")


def _check(
    session: UploadSessionRow,
    *,
    inspector: ImageInspector,
    upload: StreamingUpload,
    storage: Storage,
    settings: Settings,
    deadline: Deadline,
) -> ImageCreate:
    """Streams the incoming object through the inspector and, chunk by chunk, into upload: what
    is published is exactly what was checked, whatever the store does with preconditions.
    Raises the same refusals as the multipart route."""
    stored = storage.open(key=session.incoming_key, verify=False)
    if stored.size != session.size_bytes:
        stored.body.close()
        raise Unprocessable(
            f"The uploaded file is {stored.size} bytes, but the session declared {session.size_bytes}"
        )
    chunks = stored.chunks()
    try:
        for chunk in chunks:
            inspector.feed(chunk)  # a refused file stops here, before its bytes go further
            upload.write(chunk)
            upload.drain_blocking()
            _in_time(deadline)
    finally:
        chunks.close()  # at once when a chunk is refused, not when collected
    _in_time(deadline)  # the last chunk's read counts too
    if inspector.size != session.size_bytes:
        raise Unprocessable("The uploaded file changed size while it was read")
    digest = inspector.sha256.hexdigest()
    if session.sha256 is not None and digest != session.sha256:
        raise Unprocessable("The uploaded file's SHA-256 does not match the declared one")
    info = inspector.finish(max_pixels=settings.max_image_pixels)
    return ImageCreate(
        id=session.image_id,
        object_key=upload.key,
        description=session.description,
        filename=sanitize_filename(session.filename, extension=info.extension),
        content_type=info.content_type,
        size_bytes=inspector.size,
        sha256=digest,
        width=info.width,
        height=info.height,
        orientation=info.orientation,
    )


def _in_time(deadline: Deadline) -> None:
    """S3 work stops while the row's transaction still has its time."""
    if deadline.passed(keep=PUBLISH_SECONDS):
        raise CompleteTooSlow(
            "The file could not be checked within the time a request may run; try again later"
        )


def _delete_quietly(storage: Storage, key: str) -> None:
    try:
        storage.delete(key=key)
    except ApiError:
        log.error("could not delete an object; reconcile will", extra={"fields": {"key": key}})
