"""Cache-Control for answers that never change: an image's file and its thumbnails.

Browsers keep them for a year either way. A shared cache (CloudFront with CreateCdn) may keep
them only when no token guards the API: `public` then, with a day at the edge (s-maxage), so
a deleted image leaves the CDN within a day. With API_TOKENS or a JWT authorizer, `private`."""

from __future__ import annotations

from imageapi.core.settings import Settings

PRIVATE = "private, max-age=31536000, immutable"
PUBLIC = "public, max-age=31536000, s-maxage=86400, immutable"


def immutable(settings: Settings) -> str:
    guarded = bool(settings.token_list()) or settings.auth_at_gateway
    return PRIVATE if guarded else PUBLIC
