"""POST /api/v1/images/: validate the form while its file streams into the bucket, then publish
it (store.publish, the path upload sessions take too).

Either both the object and the row exist afterwards, or neither does, or (when the database
failed and whether the row committed cannot be learnt in time) the object stays for reconcile
and the client is told to retry: an acknowledged image never loses its file."""

from __future__ import annotations

import logging
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from imageapi.core.errors import PayloadTooLarge, Unprocessable
from imageapi.core.schemas import ImageCreate, ImageRow
from imageapi.core.settings import Settings
from imageapi.formats.imaging import accepted_type
from imageapi.http.deadlines import Deadline
from imageapi.http.descriptions import clean_description
from imageapi.http.filenames import sanitize_filename
from imageapi.http.forms import DiscardingSink, FilePart, FileSink, SinkOpener, UploadForm, read_upload_form
from imageapi.http.idempotency import KeyReused, fingerprint, idempotent
from imageapi.http.links import base_url, image_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database
from imageapi.store.layout import image_key
from imageapi.store.publish import publish
from imageapi.store.storage import Storage, StreamingUpload

FIELDS = {"file", "description"}
SESSIONS_PATH = "/api/v1/uploads"  # upload sessions: the client sends the bytes straight to S3

log = logging.getLogger(__name__)


ROUTE = "POST /api/v1/images/"  # what Idempotency-Key values are scoped to


async def upload(request: Request, *, db: Database, storage: Storage, settings: Settings) -> JSONResponse:
    """201 with the new image's metadata and its Location; with an Idempotency-Key, once."""

    async def work(image_id: uuid.UUID, resumed: bool) -> tuple[JSONResponse, str]:
        if resumed:  # the key's earlier holder died: its image may be stored already
            written = await run_in_threadpool(db.run, repository.get_image, image_id=image_id)
            if written is not None:
                return await _same_upload(request, written, settings=settings)
        return await _upload(request, image_id=image_id, db=db, storage=storage, settings=settings)

    async def fingerprint_of_retry() -> str:  # the body is read, its file stored nowhere
        return _fingerprint(
            await _read_form(request, settings=settings, open_sink=lambda *_: DiscardingSink())
        )

    return await idempotent(
        request,
        route=ROUTE,
        db=db,
        lease_seconds=Deadline.of(request, settings).remaining(),
        work=work,
        fingerprint_of_retry=fingerprint_of_retry,
    )


async def _upload(
    request: Request, *, image_id: uuid.UUID, db: Database, storage: Storage, settings: Settings
) -> tuple[JSONResponse, str]:
    opened: list[StreamingUpload] = []

    def open_sink(name: str, part: FilePart) -> FileSink:
        if name != "file" or opened:
            return DiscardingSink()  # the form will be refused: store nothing of it
        opened.append(
            StreamingUpload(
                storage,
                key=image_key(image_id),
                content_type=lambda: accepted_type(part.inspector.head),
                part_bytes=settings.s3_part_bytes,
                parts_in_flight=settings.s3_parts_in_flight,
            )
        )
        return opened[0]

    form = await _read_form(request, settings=settings, open_sink=open_sink)
    try:
        row = await run_in_threadpool(store_upload, form, image_id=image_id, db=db, settings=settings)
    except BaseException:
        await run_in_threadpool(form.discard)
        raise
    return _created(request, row), _fingerprint(form)


async def _same_upload(
    request: Request, written: ImageRow, *, settings: Settings
) -> tuple[JSONResponse, str]:
    """The image an earlier attempt under this key stored, if this request asks for the same
    (its file and description); otherwise a 422. The body is read; its file is stored nowhere."""
    form = await _read_form(request, settings=settings, open_sink=lambda *_: DiscardingSink())
    part = _file(form)
    if part.inspector.sha256.hexdigest() != written.sha256 or _description(form) != written.description:
        raise KeyReused()
    return _created(request, written), _fingerprint(form)


def _created(request: Request, row: ImageRow) -> JSONResponse:
    base = base_url(request)
    location = image_url(base, row.id)
    body = to_public(row, base=base).model_dump(mode="json")
    return JSONResponse(body, status_code=201, headers={"Location": location})


async def _read_form(request: Request, *, settings: Settings, open_sink: SinkOpener) -> UploadForm:
    try:
        return await read_upload_form(request, max_file_bytes=settings.max_upload_bytes, open_sink=open_sink)
    except PayloadTooLarge as exc:
        detail = f"{exc.detail}: send larger files through POST {SESSIONS_PATH}"
        raise PayloadTooLarge(detail, headers=exc.headers) from None


def _fingerprint(form: UploadForm) -> str:
    """What the upload asks for: its fields, and each file's name and SHA-256 (not the boundary)."""
    fields = [f"{name}={value.hex()}" for name, values in sorted(form.fields.items()) for value in values]
    files = [
        f"{name}:{part.filename}:{part.inspector.sha256.hexdigest()}"
        for name, parts in sorted(form.files.items())
        for part in parts
    ]
    return fingerprint(*fields, *files)


def store_upload(form: UploadForm, *, image_id: uuid.UUID, db: Database, settings: Settings) -> ImageRow:
    """Validates the received form, then publishes it: the object, then the row (blocking). If
    this raises, the caller discards the form's sinks; the object stays only if the row may exist."""
    unknown = (set(form.fields) | set(form.files)) - FIELDS
    if unknown:
        raise Unprocessable("Unexpected form field: send only file and description")
    description = _description(form)
    part = _file(form)
    if part.size == 0:
        raise Unprocessable("The file is empty")
    info = part.inspector.finish(max_pixels=settings.max_image_pixels)
    assert isinstance(part.sink, StreamingUpload)
    image = ImageCreate(
        id=image_id,
        object_key=part.sink.key,
        description=description,
        filename=sanitize_filename(part.filename, extension=info.extension),
        content_type=info.content_type,
        size_bytes=part.size,
        sha256=part.inspector.sha256.hexdigest(),
        width=info.width,
        height=info.height,
        orientation=info.orientation,
    )
    return publish(part.sink, image, db=db)


def _description(form: UploadForm) -> str:
    values = form.fields.get("description", [])
    if form.files.get("description"):
        raise Unprocessable("description must be a text field, not a file")
    if not values:
        raise Unprocessable("description is required")
    if len(values) > 1:
        raise Unprocessable("description was sent more than once")
    try:
        text = values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("description must be valid UTF-8") from None
    return clean_description(text)


def _file(form: UploadForm) -> FilePart:
    if form.fields.get("file"):
        raise Unprocessable("file must be a file part (with a filename)")
    files = form.files.get("file", [])
    if not files:
        raise Unprocessable("file is required")
    if len(files) > 1:
        raise Unprocessable("file was sent more than once")
    return files[0]
