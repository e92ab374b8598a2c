"""JPEG: segments up to the primary's EOI, then the further frames MPF points at (MPO, gain maps)."""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import Any

from . import exif
from .containers import Facts, Marker, Read, Span, Step, Walker, record_exif

_SCAN_DATA = Marker(scan=False)
_STRAY_BYTES = Marker(scan=True)


# SOF0..SOF15 carry the frame's size, except DHT (C4), JPG (C8) and DAC (CC).
_SOF = {code for code in range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}


def walk(facts: Facts) -> Walker:
    """The primary image up to its EOI, then any further frames (MPO's second view, a gain map):
    where the primary's MPF index says they start (padding may come between), or right after."""
    yield Read(2)  # SOI
    frames: list[int] = []  # absolute offsets, filled from the primary's MPF index
    marker: int | None = None  # a later frame's first marker, read with its SOI
    while True:
        if not (yield from _jpeg_frame(facts, marker, frames if marker is None else None)):
            facts.ended = True  # scan data ran into bytes that are not JPEG: a trailer
            return
        facts.ended = True
        later = [start for start in frames if start >= facts.offset]
        if later:
            yield Span(later[0] - facts.offset, scan=True)
        start = yield Read(4)
        if start[:3] != b"\xff\xd8\xff":
            return  # a trailer (what it holds is searched: these 4 bytes were)
        facts.ended = False
        marker = start[3]


def _jpeg_frame(facts: Facts, marker: int | None, frames: list[int] | None) -> Generator[Step, Any, bool]:
    """One frame's segments after its SOI (and marker, the code of its first marker if read):
    True at its EOI, False where the bytes after scan data stop being JPEG. The primary frame
    (frames given) adds where its MPF index puts the others."""
    scanned = False
    while True:
        if marker is None:
            byte = (yield Read(1))[0]
            if byte != 0xFF:  # stray bytes between segments: decoders skip to the next marker
                marker = yield _STRAY_BYTES
                continue
            marker = (yield Read(1))[0]
        if marker == 0xFF:  # fill byte before a marker
            marker = (yield Read(1))[0]
            continue
        if marker == 0xD9:
            return True
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            marker = None
            continue
        if marker <= 0xBF:  # not a marker: FF00 or a reserved code
            if scanned:
                return False
            marker = yield _STRAY_BYTES
            continue
        (length,) = struct.unpack(">H", (yield Read(2)))
        if length < 2:
            if scanned:
                return False
            marker = yield _STRAY_BYTES
            continue
        if marker in _SOF:
            frame = yield Read(length - 2)
            if len(frame) >= 5:  # every frame's size is held to the limit: an MPO's views decode too
                height, width = struct.unpack(">HH", frame[1:5])
                facts.frame(width, height)
                if facts.width is None:
                    facts.width, facts.height = width, height
        elif marker == 0xE2 and frames is not None and not frames and length >= 8:
            start = facts.offset
            segment = yield Read(length - 2)
            if segment[:4] == b"MPF\0":
                frames.extend(start + 4 + offset for offset in exif.mp_frame_offsets(segment[4:]))
        elif marker == 0xE1 and not facts.exif_seen and length >= 8:
            header = yield Read(6)
            if header == b"Exif\0\0":
                record_exif(facts, (yield Read(length - 8)))
            else:
                yield Span(length - 8, scan=True)
        else:
            yield Span(length - 2, scan=True)
        if marker == 0xDA:  # SOS: scan data follows, up to the next marker
            scanned = facts.scanned = True
            marker = yield _SCAN_DATA
        else:
            marker = None
