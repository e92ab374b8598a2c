"""WebP: RIFF chunks, and the chunks of each animation frame; the size from VP8X, VP8 or VP8L.

Every frame's bitstream header is read, not only the first: each one's size is held to the pixel
limit. An animation frame (ANMF) must lie within the VP8X canvas, as the container
specification says and libwebp's demuxer enforces, so one that does not is malformed."""

from __future__ import annotations

import struct

from .containers import EXIF_MAX_BYTES, Facts, Read, Span, Walker, record_exif

_WEBP_BITSTREAMS = (b"VP8 ", b"VP8L", b"ALPH")


def walk(facts: Facts) -> Walker:
    header = yield Read(12)  # RIFF, size, WEBP
    yield from _riff_chunks(facts, struct.unpack("<I", header[4:8])[0] - 4, in_frame=False)
    facts.ended = True


def _riff_chunks(facts: Facts, size: int, *, in_frame: bool) -> Walker:
    """size bytes of chunks. An animation frame (ANMF) holds chunks of its own after a 16-byte
    header; frames do not nest, so one inside a frame is searched whole, never walked."""
    while size > 0:
        kind, length = struct.unpack("<4sI", (yield Read(8)))
        padded = length + (length & 1)
        size -= 8 + padded
        if kind == b"ANMF" and in_frame:
            facts.malformed = "WebP animation frames do not nest"
            yield Span(padded, scan=True)
        elif kind == b"ANMF" and length >= 16:
            _check_frame(facts, (yield Read(16)))  # position, size, duration, flags
            yield from _riff_chunks(facts, padded - 16, in_frame=True)
        elif kind == b"VP8X" and length >= 10:
            canvas = yield Read(padded)
            facts.width = int.from_bytes(canvas[4:7], "little") + 1
            facts.height = int.from_bytes(canvas[7:10], "little") + 1
        elif kind == b"VP8 " and length >= 10:
            frame = yield Read(10)
            if frame[3:6] == b"\x9d\x01\x2a":
                width, height = struct.unpack("<HH", frame[6:10])
                _bitstream(facts, width & 0x3FFF, height & 0x3FFF)
            yield Span(padded - 10, scan=False)
        elif kind == b"VP8L" and length >= 5:
            frame = yield Read(5)
            if frame[0] == 0x2F:
                bits = int.from_bytes(frame[1:5], "little")
                _bitstream(facts, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            yield Span(padded - 5, scan=False)
        elif kind == b"EXIF" and not facts.exif_seen and length <= EXIF_MAX_BYTES:
            record_exif(facts, (yield Read(padded)))
        else:
            yield Span(padded, scan=kind not in _WEBP_BITSTREAMS)


def _bitstream(facts: Facts, width: int, height: int) -> None:
    """A VP8 or VP8L frame: the image's size when no VP8X came first; a frame to decode either way."""
    if facts.width is None:
        facts.width, facts.height = width, height
    facts.frame(width, height)


def _check_frame(facts: Facts, header: bytes) -> None:
    """ANMF's header: x and y offsets (in 2-pixel units), width and height (minus one), 3 bytes each."""
    left, top = 2 * int.from_bytes(header[0:3], "little"), 2 * int.from_bytes(header[3:6], "little")
    width, height = int.from_bytes(header[6:9], "little") + 1, int.from_bytes(header[9:12], "little") + 1
    if facts.width is None or facts.height is None:
        facts.malformed = "a WebP animation frame comes before the canvas (VP8X)"
    elif left + width > facts.width or top + height > facts.height:
        facts.malformed = "a WebP animation frame lies outside the image's canvas"
