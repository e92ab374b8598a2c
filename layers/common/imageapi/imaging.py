"""Recognises JPEG, PNG, GIF and WebP by their bytes, and reads dimensions from headers only.

Nothing here decodes pixels: the header and the last bytes of the file are enough to know the
real type, the declared size, and whether the file is complete."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import Unprocessable, UnsupportedMediaType

HEAD_BYTES = 256 * 1024  # JPEG's SOF may follow large EXIF segments
TAIL_BYTES = 64


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    extension: str
    width: int | None
    height: int | None


def sniff(head: bytes) -> str | None:
    """The image type the first 12 bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def identify(head: bytes) -> ImageInfo:
    """The type the first bytes announce, and the dimensions the header declares; 415 for
    anything but JPEG, PNG, GIF and WebP."""
    content_type = accepted_type(head)
    extension, size = _HEADERS[content_type]
    return ImageInfo(content_type, extension, *size(head))


def accepted_type(head: bytes) -> str:
    """sniff(), or 415 for anything but JPEG, PNG, GIF and WebP."""
    content_type = sniff(head)
    if content_type is None:
        raise UnsupportedMediaType("Unsupported file type: send a JPEG, PNG, GIF or WebP image")
    return content_type


def inspect(head: bytes, tail: bytes, size: int, *, max_pixels: int) -> ImageInfo:
    """identify(), then 422 if the file does not end as its type must, or declares a zero or
    over-large size."""
    info = identify(head)
    if not _COMPLETE[info.content_type](head, tail, size):
        raise Unprocessable("The image is truncated or has data after its end")
    if info.width is not None and info.height is not None:
        if info.width == 0 or info.height == 0:
            raise Unprocessable("The image declares a zero width or height")
        if info.width * info.height > max_pixels:
            raise Unprocessable(f"The image declares more than {max_pixels} pixels")
    return info


# How each type ends: JPEG with EOI (padding tolerated), PNG with IEND, GIF with its trailer,
# WebP where its RIFF header says.
_COMPLETE = {
    "image/jpeg": lambda head, tail, size: tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"),
    "image/png": lambda head, tail, size: tail.endswith(b"IEND\xaeB`\x82"),
    "image/gif": lambda head, tail, size: tail.endswith(b"\x3b"),
    "image/webp": lambda head, tail, size: struct.unpack("<I", head[4:8])[0] + 8 <= size,
}


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None, None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # start of scan: no frame header before it
            return None, None
        i += 2 + length
    return None, None


def _png_size(data: bytes) -> tuple[int | None, int | None]:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None, None


def _gif_size(data: bytes) -> tuple[int | None, int | None]:
    if len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None, None


_HEADERS = {
    "image/jpeg": ("jpg", _jpeg_size),
    "image/png": ("png", _png_size),
    "image/gif": ("gif", _gif_size),
    "image/webp": ("webp", _webp_size),
}
