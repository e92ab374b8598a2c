"""Absolute URLs the API hands out: always its own routes, never the object store."""

from __future__ import annotations

from datetime import UTC

from fastapi import Request

from .layout import DEFAULT_THUMBNAIL_SIZE
from .schemas import ImagePublic, ImageRow
from .settings import get_settings

IMAGES_PATH = "/api/v1/images/"


def base_url(request: Request) -> str:
    """PUBLIC_BASE_URL, or the URL the client used (API Gateway's REST stage included)."""
    configured = get_settings().public_base_url
    if configured:
        return configured.rstrip("/")
    headers = request.headers
    scheme = headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = headers.get("x-forwarded-host") or headers.get("host") or request.url.netloc
    event = request.scope.get("aws.event") or {}
    stage = (event.get("requestContext") or {}).get("stage")
    prefix = f"/{stage}" if "httpMethod" in event and stage and ".execute-api." in host else ""
    return f"{scheme}://{host}{prefix}"


def image_url(base: str, image_id: object) -> str:
    return f"{base}{IMAGES_PATH}{image_id}"


def to_public(row: ImageRow, *, base: str) -> ImagePublic:
    """The API's view of a row; base is base_url(request), computed once per request."""
    return ImagePublic(
        id=row.id,
        description=row.description,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        created_at=row.created_at.astimezone(UTC),
        download_url=f"{image_url(base, row.id)}/file",
        thumbnail_url=f"{image_url(base, row.id)}/thumbnail?size={int(DEFAULT_THUMBNAIL_SIZE)}",
    )
