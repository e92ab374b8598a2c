"""Absolute URLs the API hands out: always its own routes, never the object store."""

from __future__ import annotations

from datetime import UTC

from fastapi import Request

from imageapi.core.schemas import ImagePublic, ImageRow
from imageapi.core.settings import get_settings
from imageapi.store.layout import DEFAULT_THUMBNAIL_SIZE

IMAGES_PATH = "/api/v1/images/"


def base_url(request: Request) -> str:
    """PUBLIC_BASE_URL, or the origin the client used followed by the base path (see basepath)."""
    settings = get_settings()
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    scheme, host = _origin(request, trust_forwarded=settings.trust_proxy_headers)
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


def _origin(request: Request, *, trust_forwarded: bool) -> tuple[str, str]:
    """Scheme and host. X-Forwarded-Host and -Proto come from any client unless a proxy that
    sets them is trusted (TRUST_PROXY_HEADERS). Behind API Gateway, requestContext.domainName is
    the domain the client reached, which no header can change."""
    headers = request.headers
    forwarded_host = _first(headers.get("x-forwarded-host")) if trust_forwarded else ""
    forwarded_proto = _first(headers.get("x-forwarded-proto")) if trust_forwarded else ""
    if forwarded_proto not in ("http", "https"):
        forwarded_proto = ""
    event = request.scope.get("aws.event")
    if event:
        # API Gateway sets X-Forwarded-Proto itself; the only values it can hold are these two.
        own_proto = _first(headers.get("x-forwarded-proto"))
        scheme = forwarded_proto or (own_proto if own_proto in ("http", "https") else "https")
        domain = (event.get("requestContext") or {}).get("domainName")
        return scheme, forwarded_host or domain or headers.get("host") or request.url.netloc
    scheme = forwarded_proto or request.url.scheme
    return scheme, forwarded_host or headers.get("host") or request.url.netloc


def _first(value: str | None) -> str:
    """The first of a comma-separated list: what the outermost proxy saw."""
    return (value or "").split(",")[0].strip()


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
        orientation=row.orientation,
        created_at=row.created_at.astimezone(UTC),
        download_url=f"{image_url(base, row.id)}/file",
        thumbnail_url=f"{image_url(base, row.id)}/thumbnail?size={int(DEFAULT_THUMBNAIL_SIZE)}",
    )
