"""GET /api/v1/images/: one page of the newest-first listing, with the link to the next."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

from imageapi.core.schemas import ImagesPublic
from imageapi.core.settings import Settings
from imageapi.http.links import IMAGES_PATH, base_url, to_public
from imageapi.http.pagination import encode_cursor, read_cursor
from imageapi.store import repository
from imageapi.store.db import Database

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def list_page(
    request: Request, *, db: Database, settings: Settings, limit: int, cursor: str | None
) -> ImagesPublic:
    secret = settings.cursor_secret.get_secret_value().encode()
    after = read_cursor(cursor, secret=secret)
    rows = db.run(repository.list_images, limit=limit + 1, after=after)  # one extra: is there more?
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].position, secret=secret) if more else None
    base = base_url(request)
    next_url = (
        f"{base}{IMAGES_PATH}?{urlencode({'limit': limit, 'cursor': next_cursor})}" if next_cursor else None
    )
    return ImagesPublic(
        items=[to_public(row, base=base) for row in page],
        limit=limit,
        next_cursor=next_cursor,
        next=next_url,
    )
