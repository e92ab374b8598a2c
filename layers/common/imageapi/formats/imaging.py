"""Recognises JPEG, PNG, GIF, WebP, AVIF and HEIC/HEIF by their bytes.

Nothing here decodes pixels: the type comes from the first bytes, and everything else (the
dimensions, the orientation, where the image ends) from walking the file's structure as it
streams, in `inspection`."""

from __future__ import annotations

from dataclasses import dataclass

from imageapi.core.errors import UnsupportedMediaType

# The type each accepted file gets, and the extension its download is named with.
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
}
ACCEPTED_TYPES = tuple(EXTENSIONS)
_ACCEPTED_NAMES = "JPEG, PNG, GIF, WebP, AVIF or HEIC"
UNSUPPORTED_TYPE = f"Unsupported file type: send a {_ACCEPTED_NAMES} image"

# ISO-BMFF brands (the `ftyp` box) that make a file one of the accepted image types.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    extension: str
    width: int
    height: int
    orientation: int | None  # EXIF orientation, 1-8; None when the file has none


def sniff(head: bytes) -> str | None:
    """The image type the first bytes announce (12 are enough but for HEIF, whose `ftyp` box
    may list its brands after them), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return _bmff_type(head)
    return None


def _bmff_type(head: bytes) -> str | None:
    """The major brand decides; a generic one (mif1) defers to the compatible brands."""
    size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    for brands in ({major}, compatible):
        if brands & _AVIF_BRANDS:
            return "image/avif"
        if brands & _HEIC_BRANDS:
            return "image/heic"
    if ({major} | compatible) & _HEIF_BRANDS:
        return "image/heif"
    return None


def accepted_type(head: bytes) -> str:
    """sniff(), or 415 for anything but the accepted types."""
    content_type = sniff(head)
    if content_type is None:
        raise UnsupportedMediaType(UNSUPPORTED_TYPE)
    return content_type
