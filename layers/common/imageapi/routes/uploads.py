"""POST /api/v1/images/: validate the form, stream the file into the bucket, store the row.

Either both the object and the row exist afterwards, or neither does, or (when the database
failed and whether the row committed cannot be learnt in time) the object stays for reconcile
and the client is told to retry: an acknowledged image never loses its file."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from imageapi.core.errors import DatabaseUnavailable, PayloadTooLarge, Unprocessable
from imageapi.core.schemas import ImageCreate, ImageRow
from imageapi.core.settings import Settings
from imageapi.formats.imaging import accepted_type
from imageapi.http.descriptions import clean_description
from imageapi.http.filenames import sanitize_filename
from imageapi.http.forms import DiscardingSink, FilePart, FileSink, UploadForm, read_upload_form
from imageapi.http.links import base_url, image_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database, NotYet
from imageapi.store.storage import Storage, StreamingUpload

FIELDS = {"file", "description"}
SESSIONS_PATH = "/api/v1/uploads"  # upload sessions: the client sends the bytes straight to S3

log = logging.getLogger(__name__)


async def upload(request: Request, *, db: Database, storage: Storage, settings: Settings) -> JSONResponse:
    """201 with the new image's metadata and its Location."""
    image_id = uuid.uuid4()
    opened: list[StreamingUpload] = []

    def open_sink(name: str, part: FilePart) -> FileSink:
        if name != "file" or opened:
            return DiscardingSink()  # the form will be refused: store nothing of it
        opened.append(
            StreamingUpload(
                storage,
                key=f"images/{image_id}",
                content_type=lambda: accepted_type(part.inspector.head),
                part_bytes=settings.s3_part_bytes,
                parts_in_flight=settings.s3_parts_in_flight,
            )
        )
        return opened[0]

    try:
        form = await read_upload_form(request, max_file_bytes=settings.max_upload_bytes, open_sink=open_sink)
    except PayloadTooLarge as exc:
        detail = f"{exc.detail}: send larger files through POST {SESSIONS_PATH}"
        raise PayloadTooLarge(detail, headers=exc.headers) from None
    try:
        row = await run_in_threadpool(store_upload, form, image_id=image_id, db=db, settings=settings)
    except BaseException:
        await run_in_threadpool(form.discard)
        raise
    base = base_url(request)
    image = to_public(row, base=base)
    location = image_url(base, image.id)
    return JSONResponse(image.model_dump(mode="json"), status_code=201, headers={"Location": location})


def store_upload(form: UploadForm, *, image_id: uuid.UUID, db: Database, settings: Settings) -> ImageRow:
    """Validates the received form, makes its object visible, then writes the row (blocking).
    If this raises, the caller discards the form's sinks, which removes a committed object too."""
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
    part.sink.commit()
    return _insert_row(image, sink=part.sink, db=db)


def _insert_row(image: ImageCreate, *, sink: StreamingUpload, db: Database) -> ImageRow:
    """Writes the row. When that fails after the INSERT may have reached the server, the
    outcome is asked on a fresh connection: a row found is the upload's success; a row certainly
    absent lets the caller delete the object; an unknown outcome keeps the object (503)."""
    backends: list[int] = []

    def insert(conn: psycopg.Connection[Any], /, *, image: ImageCreate) -> ImageRow:
        backends.append(conn.info.backend_pid)  # from here on the INSERT may reach the server
        return repository.insert_image(conn, image=image)

    try:
        return db.run(insert, image=image)
    except DatabaseUnavailable:
        if not backends:
            raise  # no INSERT was sent: no row, and the caller deletes the object
        try:
            row = db.run_on_fresh_connection(_written_row, image_id=image.id, backends=backends)
        except DatabaseUnavailable:
            sink.keep()
            log.error(
                "upload outcome unknown: the object is kept for reconcile",
                extra={"fields": {"image_key": image.object_key}},
            )
            raise
        if row is None:
            raise
        log.warning(
            "the row was written though its acknowledgement was lost",
            extra={"fields": {"image_key": image.object_key}},
        )
        return row


def _written_row(
    conn: psycopg.Connection[Any], /, *, image_id: uuid.UUID, backends: list[int]
) -> ImageRow | None:
    """The row if it exists; None only once it certainly never will: the server processes that
    ran the INSERT have ended, so no transaction of theirs can still commit."""
    row = repository.get_image(conn, image_id=image_id)
    if row is not None:
        return row
    if any(repository.backend_running(conn, pid=pid) for pid in backends):
        raise NotYet("the INSERT's server process is still running")
    return repository.get_image(conn, image_id=image_id)  # a new snapshot, taken after they ended


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
