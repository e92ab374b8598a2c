"""GET /api/v1/images/{id}/file: the bytes, proxied from the bucket in chunks."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from .db import Database
from .errors import ApiError
from .filenames import content_disposition
from .images import get_row
from .imaging import ACCEPTED_TYPES
from .storage import ObjectMissing, Storage


class FileMissing(ApiError):
    status_code = 500


def file_response(request: Request, *, image_id: uuid.UUID, db: Database, storage: Storage) -> Response:
    row = get_row(image_id=image_id, db=db)
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": content_disposition(row.filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=31536000, immutable",  # an id's bytes never change
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    try:
        stored = storage.open(key=row.object_key)
    except ObjectMissing:
        raise FileMissing("The file of this image is missing from storage") from None
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(
        iterate_in_threadpool(stored.chunks()), media_type=row.content_type, headers=headers
    )


FILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The image's bytes",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ACCEPTED_TYPES},
    },
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
}
