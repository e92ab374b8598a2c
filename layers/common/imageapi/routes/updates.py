"""PATCH /api/v1/images/{id}: edits the description. With If-Match (or If-Unmodified-Since) the
edit happens only if the metadata is still the version the client read: the check and the write
are one UPDATE, so of two clients editing from the same read exactly one succeeds (412 for the
other) and no edit is ever lost."""

from __future__ import annotations

import re
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse

from imageapi.core.schemas import ImageUpdate
from imageapi.http.conditional import PreconditionFailed, entity_tags, http_date
from imageapi.http.descriptions import clean_description
from imageapi.http.links import base_url, to_public
from imageapi.store import repository
from imageapi.store.db import Database

from .images import get_row, metadata_headers

# metadata_etag's form. If-Match counts the version alone: the rest names the links' host and
# the schema, and an edit made through another host is still the edit of that version.
_VERSION_TAG = re.compile(r'^"v(\d{1,18})(?:-[0-9a-f]{8})?"$')


def update_image(request: Request, *, image_id: uuid.UUID, body: ImageUpdate, db: Database) -> JSONResponse:
    """Blocking. 404 for no such image; 412 when a precondition names another version; 422 for a
    description that upload would refuse."""
    description = clean_description(body.description)
    if_match = request.headers.get("if-match")
    versions = None if if_match is None else _versions(if_match)
    # If-Unmodified-Since counts only without If-Match (RFC 9110, 13.2.2).
    since = http_date(request.headers.get("if-unmodified-since")) if if_match is None else None
    row = db.run(
        repository.update_description,
        image_id=image_id,
        description=description,
        versions=versions,
        unmodified_since=since,
    )
    base = base_url(request)
    if row is None:
        current = get_row(image_id=image_id, db=db)  # 404 when there is no such image
        raise PreconditionFailed(
            "Precondition failed: the image was changed since that version; GET it again",
            headers=metadata_headers(current, base=base),
        )
    public = to_public(row, base=base)
    return JSONResponse(public.model_dump(mode="json"), headers=metadata_headers(row, base=base))


def _versions(if_match: str) -> list[int] | None:
    """The versions If-Match names (None for `*`: any); tags of another form name none."""
    tags = entity_tags(if_match)
    if tags is None:
        return None
    return [int(found.group(1)) for tag in tags if (found := _VERSION_TAG.match(tag))]


UPDATE_DESCRIPTION = """Replaces the image's description; nothing else of it changes. The description
follows the upload's rules (Unicode NFC, trimmed, 1 to 1000 characters, no control characters).

To change it only if nobody else has since you read it, send the metadata's ETag in `If-Match`
(or its Last-Modified in `If-Unmodified-Since`, to the second): if another edit came first the
answer is 412 and nothing is stored. The answer carries the new ETag."""

UPDATE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The edited metadata, with its new ETag and Last-Modified"},
}
