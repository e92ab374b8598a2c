"""Where things live in the bucket, and which thumbnail sizes exist.

images/<id>                       the uploaded file
thumbnails/<id>/<size>.webp       its thumbnails, made on first request

Imports nothing: the metadata, deletion and reconcile code read it without Pillow or boto3."""

from __future__ import annotations

import uuid
from enum import IntEnum

IMAGES_PREFIX = "images/"
THUMBNAILS_PREFIX = "thumbnails/"


class ThumbnailSize(IntEnum):
    """Longest side in pixels. A fixed list, so nobody can make the server render arbitrary sizes."""

    S128 = 128
    S256 = 256
    S512 = 512
    S1024 = 1024


THUMBNAIL_SIZES = tuple(int(size) for size in ThumbnailSize)
DEFAULT_THUMBNAIL_SIZE = ThumbnailSize.S256


def image_key(image_id: uuid.UUID) -> str:
    return f"{IMAGES_PREFIX}{image_id}"


def image_id_of_key(key: str) -> uuid.UUID | None:
    """The image id of an images/<id> key, or None for anything else under the prefix."""
    try:
        return uuid.UUID(key.removeprefix(IMAGES_PREFIX)) if key.startswith(IMAGES_PREFIX) else None
    except ValueError:
        return None


SHARD_DIGITS = "0123456789abcdef"


def shard_ids(shard: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The ids of a shard, one or two leading hex digits of the id (images/<shard>...): the first
    (inclusive) and the end (exclusive, None past the last). "" is every id. ValueError otherwise."""
    if len(shard) > 2 or any(c not in SHARD_DIGITS for c in shard):
        raise ValueError(f"a shard is one or two lowercase hex digits, not {shard!r}")
    if not shard:
        return None, None
    first = int(shard, 16) << (128 - 4 * len(shard))
    end = (int(shard, 16) + 1) << (128 - 4 * len(shard))
    return uuid.UUID(int=first), (uuid.UUID(int=end) if end < 1 << 128 else None)


def thumbnail_key(image_id: uuid.UUID, size: int) -> str:
    return f"{THUMBNAILS_PREFIX}{image_id}/{size}.webp"


def thumbnail_keys(image_id: uuid.UUID) -> list[str]:
    """Every key a thumbnail of this image can have: deleting them needs no listing."""
    return [thumbnail_key(image_id, size) for size in THUMBNAIL_SIZES]


def image_id_of_thumbnail(key: str) -> str | None:
    """The image id a thumbnail key belongs to, or None for anything else under the prefix."""
    parts = key.removeprefix(THUMBNAILS_PREFIX).split("/")
    return parts[0] if key.startswith(THUMBNAILS_PREFIX) and len(parts) == 2 else None
