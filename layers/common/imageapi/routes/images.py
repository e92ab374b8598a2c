"""GET /api/v1/images/{id}: one image's metadata, with an ETag that changes with every edit
(If-None-Match: 304); and the lookup the file routes share."""

from __future__ import annotations

import hashlib
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from imageapi.core.errors import NotFound
from imageapi.core.schemas import ImagePublic, ImageRow
from imageapi.http.conditional import format_http_date, none_match
from imageapi.http.links import base_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database

# Clients may keep the metadata but must ask again before using it: an edit changes it.
METADATA_CACHE_CONTROL = "private, no-cache"


def get_row(*, image_id: uuid.UUID, db: Database) -> ImageRow:
    """The image's row, or 404."""
    row = db.run(repository.get_image, image_id=image_id)
    if row is None:
        raise NotFound("Image not found")
    return row


# Part of the metadata ETag: raise it when the metadata's fields or their meaning change, so a
# client holding an older body does not get a 304 for it.
METADATA_SCHEMA = 2


def find_image(request: Request, *, image_id: uuid.UUID, db: Database) -> ImagePublic:
    return to_public(get_row(image_id=image_id, db=db), base=base_url(request))


def metadata_etag(row: ImageRow, *, base: str) -> str:
    """Strong, so If-Match can name it: the version, which every edit moves on, then what else
    the body depends on (the host its links name, the schema), so one tag never names two bodies."""
    body = hashlib.sha256(f"{base}\n{METADATA_SCHEMA}".encode()).hexdigest()[:8]
    return f'"v{row.version}-{body}"'


def metadata_headers(row: ImageRow, *, base: str) -> dict[str, str]:
    return {
        "ETag": metadata_etag(row, base=base),
        "Last-Modified": format_http_date(row.last_modified),
        "Cache-Control": METADATA_CACHE_CONTROL,
    }


def metadata_response(request: Request, *, image_id: uuid.UUID, db: Database) -> Response:
    row = get_row(image_id=image_id, db=db)
    headers = metadata_headers(row, base=base_url(request))
    if none_match(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return JSONResponse(to_public(row, base=base_url(request)).model_dump(mode="json"), headers=headers)


METADATA_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The image's metadata, with its ETag and Last-Modified"},
    304: {"description": "Not modified (If-None-Match matched the ETag, weakly, or was *)"},
}
