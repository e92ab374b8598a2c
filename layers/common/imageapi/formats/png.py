"""PNG: chunks up to IEND; the size from IHDR; EXIF from eXIf, or ImageMagick's raw profile text.

An APNG frame (fcTL) must lie within the IHDR canvas, as the APNG specification says: libpng
and Pillow refuse one that does not, so it is malformed here too, and no frame can declare more
pixels than the canvas the limit was held to."""

from __future__ import annotations

import struct
import zlib

from .containers import EXIF_MAX_BYTES, Facts, Read, Span, Walker, record_exif


def walk(facts: Facts) -> Walker:
    yield Read(8)  # signature
    raw_profile: bytes | None = None
    while True:
        length, kind = struct.unpack(">I4s", (yield Read(8)))
        if kind == b"IHDR" and facts.width is None and length >= 8:
            header = yield Read(length)
            facts.width, facts.height = struct.unpack(">II", header[:8])
        elif kind == b"fcTL" and length >= 20:
            control = yield Read(length)
            _check_frame(facts, control)
        elif kind == b"eXIf" and not facts.exif_seen and length <= EXIF_MAX_BYTES:
            record_exif(facts, (yield Read(length)))
        elif kind in (b"tEXt", b"zTXt") and raw_profile is None and length <= EXIF_MAX_BYTES:
            raw_profile = _raw_exif_profile(kind, (yield Read(length)))
        else:
            yield Span(length, scan=kind not in (b"IDAT", b"fdAT"))
        yield Read(4)  # CRC
        if kind == b"IEND":
            if not facts.exif_seen and raw_profile:
                record_exif(facts, raw_profile)
            facts.ended = True
            return


def _check_frame(facts: Facts, control: bytes) -> None:
    """fcTL: sequence number, width, height, x and y offsets, then timing."""
    width, height, left, top = struct.unpack(">IIII", control[4:20])
    if facts.width is None or facts.height is None:
        return  # no IHDR first: no dimensions, refused as such
    if width == 0 or height == 0 or left + width > facts.width or top + height > facts.height:
        facts.malformed = "an APNG frame lies outside the image's canvas"


def _raw_exif_profile(kind: bytes, data: bytes) -> bytes | None:
    """EXIF as ImageMagick keeps it in PNG text: keyword 'Raw profile type exif', then
    '\\nexif\\n<length>\\n' and the bytes in hex; readers use it when there is no eXIf."""
    keyword, _, text = data.partition(b"\0")
    if keyword != b"Raw profile type exif":
        return None
    if kind == b"zTXt":
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(text[1:], 4 * EXIF_MAX_BYTES)  # compression method byte first
        except zlib.error:
            return None
    fields = text.split(None, 2)
    if len(fields) < 3:
        return None
    try:
        return bytes.fromhex(fields[2].decode("ascii", "replace"))
    except ValueError:
        return None
