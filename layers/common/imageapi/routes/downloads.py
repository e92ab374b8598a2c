"""GET and HEAD /api/v1/images/{id}/file: the bytes, proxied from the bucket in chunks, with
conditional (If-Match, If-Unmodified-Since, If-None-Match) and single-range (Range, If-Range)
requests answered as RFC 9110 says."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from imageapi.core.errors import ApiError
from imageapi.core.schemas import ErrorBody, ImageRow
from imageapi.core.settings import get_settings
from imageapi.formats.imaging import ACCEPTED_TYPES
from imageapi.http.caching import immutable
from imageapi.http.conditional import check_preconditions, format_http_date, none_match, requested_range
from imageapi.http.filenames import content_disposition
from imageapi.store.db import Database
from imageapi.store.storage import ObjectMissing, Storage

from .images import get_row


class FileMissing(ApiError):
    status_code = 500


def file_response(request: Request, *, image_id: uuid.UUID, db: Database, storage: Storage) -> Response:
    row = get_row(image_id=image_id, db=db)
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": content_disposition(row.filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": immutable(get_settings()),  # an id's bytes never change
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Accept-Ranges": "bytes",
        "Last-Modified": format_http_date(row.created_at),  # when its bytes were stored
    }
    check_preconditions(
        if_match=request.headers.get("if-match"),
        if_unmodified_since=request.headers.get("if-unmodified-since"),
        etag=etag,
        last_modified=row.created_at,
    )
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    wanted = requested_range(
        method=request.method,
        range_header=request.headers.get("range"),
        if_range=request.headers.get("if-range"),
        etag=etag,
        size=row.size_bytes,
    )
    status = 200 if wanted is None else 206
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range
    sending = row.size_bytes if wanted is None else wanted.length
    redirect = _redirect(row, sending=sending, storage=storage, headers=headers)
    if redirect is not None:  # S3 answers a Range the client sends on to it the same way
        return redirect  # HEAD too: its answer is the GET's
    if request.method == "HEAD":  # the GET's headers, S3 asked only whether the file is there
        if not storage.exists(key=row.object_key):
            raise _missing()
        headers["Content-Length"] = str(row.size_bytes)
        return Response(status_code=status, headers=headers, media_type=row.content_type)
    try:
        span = None if wanted is None else (wanted.first, wanted.last)
        stored = storage.open(key=row.object_key, byte_range=span)
    except ObjectMissing:
        raise _missing() from None
    headers["Content-Length"] = str(stored.size)
    chunks = iterate_in_threadpool(stored.chunks())
    return StreamingResponse(chunks, status_code=status, media_type=row.content_type, headers=headers)


def _missing() -> FileMissing:
    return FileMissing("The file of this image is missing from storage")


def _redirect(row: ImageRow, *, sending: int, storage: Storage, headers: dict[str, str]) -> Response | None:
    """When more than DOWNLOAD_REDIRECT_BYTES (Lambda's response ceiling) would be sent, 307 to
    a presigned GET valid a few minutes, whose response carries this route's type, disposition
    and caching; else None."""
    settings = get_settings()
    threshold = settings.download_redirect_bytes
    if not threshold or sending <= threshold:
        return None
    url = storage.presigned_get(
        key=row.object_key,
        response_headers={
            "ResponseContentType": row.content_type,
            "ResponseContentDisposition": headers["Content-Disposition"],
            "ResponseCacheControl": headers["Cache-Control"],
        },
        expires_in=settings.download_url_seconds,
    )
    # The redirect itself expires with its URL: no cache may keep it.
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})


FILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The image's bytes (Accept-Ranges: bytes)",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ACCEPTED_TYPES},
    },
    206: {"description": "One byte range of the file (Range; If-Range naming the current ETag)"},
    304: {"description": "Not modified (If-None-Match matched the ETag, weakly, or was *)"},
    307: {"description": "Above DOWNLOAD_REDIRECT_BYTES: a presigned S3 GET valid a few minutes"},
    412: {
        "model": ErrorBody,
        "description": "Precondition failed: If-Match without the ETag, or If-Unmodified-Since before",
    },
    416: {"description": "Range not satisfiable (Content-Range: bytes */size)"},
}
