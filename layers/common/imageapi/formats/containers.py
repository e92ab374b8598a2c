"""Walks each image format's container while it streams: where the image ends, its dimensions
and EXIF orientation, and which bytes a client could read as text.

Each walker is a generator. It yields the next step (read n bytes and send them to me, pass over
n bytes, ...) and records what it learns in `Facts`; `inspection.ImageInspector` drives it chunk
by chunk, so no walker ever holds more than one bounded structure (a header, a JPEG segment, an
EXIF block, an HEIF `meta` box) in memory. No walker recurses: a crafted file cannot nest its way
past the stack."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from . import bmff, exif

EXIF_MAX_BYTES = 1024 * 1024  # a PNG, WebP or HEIF EXIF block read whole; JPEG's is under 64 KiB
META_MAX_BYTES = 16 * 1024 * 1024  # an HEIF `meta` box: a phone photo's is a few KiB
_UNTIL_THE_END = 1 << 62  # a box whose size says it runs to the end of the file


@dataclass
class Facts:
    """What the walk has learnt so far."""

    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    exif_seen: bool = False  # the first EXIF block decides, as in every reader
    ended: bool = False  # the walk has passed the image's end: what follows is a trailer
    needed: int = 0  # the file must be at least this long (HEIF items located past the walk)
    offset: int = 0  # where in the file the walk is: kept by the inspector before each step
    malformed: str | None = None  # why the structure is not one any decoder reads
    scanned: bool = False  # a JPEG's walk has reached scan data


@dataclass(frozen=True)
class Read:
    """The next n bytes, searched for markup and sent to the walker (headers, lengths, markers)."""

    n: int


@dataclass(frozen=True)
class Span:
    """The next n bytes: searched (palettes, metadata, comments, unknown chunks) or passed over
    (compressed pixel data)."""

    n: int
    scan: bool


@dataclass(frozen=True)
class SubBlocks:
    """GIF data sub-blocks up to their zero terminator, searched or passed over."""

    scan: bool


@dataclass(frozen=True)
class Marker:
    """Pass over bytes up to the next JPEG marker, whose code is sent to the walker: scan data
    (not searched), or stray bytes between segments (searched)."""

    scan: bool


class Rest:
    """Search everything that remains."""


Step = Read | Span | SubBlocks | Marker | Rest
Walker = Generator[Step, Any, None]  # sent: the bytes of a Read, a JPEG marker's code, or None
REST = Rest()
_SCAN_DATA = Marker(scan=False)
_STRAY_BYTES = Marker(scan=True)


def walker(head: bytes, facts: Facts) -> Walker | None:
    """The walker for the format the first 12 bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg(facts)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(facts)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(facts)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(facts)
    if head[4:8] == b"ftyp":
        return _bmff(facts)
    return None


def _exif(facts: Facts, data: bytes) -> None:
    if not facts.exif_seen:
        facts.exif_seen = True
        facts.orientation = exif.orientation(data)


def _png(facts: Facts) -> Walker:
    yield Read(8)  # signature
    raw_profile: bytes | None = None
    while True:
        length, kind = struct.unpack(">I4s", (yield Read(8)))
        if kind == b"IHDR" and facts.width is None and length >= 8:
            header = yield Read(length)
            facts.width, facts.height = struct.unpack(">II", header[:8])
        elif kind == b"eXIf" and not facts.exif_seen and length <= EXIF_MAX_BYTES:
            _exif(facts, (yield Read(length)))
        elif kind in (b"tEXt", b"zTXt") and raw_profile is None and length <= EXIF_MAX_BYTES:
            raw_profile = _raw_exif_profile(kind, (yield Read(length)))
        else:
            yield Span(length, scan=kind not in (b"IDAT", b"fdAT"))
        yield Read(4)  # CRC
        if kind == b"IEND":
            if not facts.exif_seen and raw_profile:
                _exif(facts, raw_profile)
            facts.ended = True
            return


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


# SOF0..SOF15 carry the frame's size, except DHT (C4), JPG (C8) and DAC (CC).
_SOF = {code for code in range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}


def _jpeg(facts: Facts) -> Walker:
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
            if facts.width is None and len(frame) >= 5:
                facts.height, facts.width = struct.unpack(">HH", frame[1:5])
        elif marker == 0xE2 and frames is not None and not frames and length >= 8:
            start = facts.offset
            segment = yield Read(length - 2)
            if segment[:4] == b"MPF\0":
                frames.extend(start + 4 + offset for offset in exif.mp_frame_offsets(segment[4:]))
        elif marker == 0xE1 and not facts.exif_seen and length >= 8:
            header = yield Read(6)
            if header == b"Exif\0\0":
                _exif(facts, (yield Read(length - 8)))
            else:
                yield Span(length - 8, scan=True)
        else:
            yield Span(length - 2, scan=True)
        if marker == 0xDA:  # SOS: scan data follows, up to the next marker
            scanned = facts.scanned = True
            marker = yield _SCAN_DATA
        else:
            marker = None


def _gif(facts: Facts) -> Walker:
    screen = yield Read(13)  # signature and logical screen descriptor
    facts.width, facts.height = struct.unpack("<HH", screen[6:10])
    if screen[10] & 0x80:
        yield Span(3 << ((screen[10] & 7) + 1), scan=True)  # global palette
    images = 0
    while True:
        introducer = (yield Read(1))[0]
        if introducer == 0x21:  # extension: label, then comment or application text
            yield Read(1)
            yield SubBlocks(scan=True)
        elif introducer == 0x2C:  # image: descriptor, local palette, LZW data
            descriptor = yield Read(9)
            if descriptor[8] & 0x80:
                yield Span(3 << ((descriptor[8] & 7) + 1), scan=True)
            yield Read(1)  # LZW minimum code size
            yield SubBlocks(scan=False)
            images += 1
        else:  # the trailer; other bytes after an image end it as decoders do
            facts.ended = introducer == 0x3B or images > 0
            return


_WEBP_BITSTREAMS = (b"VP8 ", b"VP8L", b"ALPH")


def _webp(facts: Facts) -> Walker:
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
            yield Span(16, scan=True)  # position, size, duration, flags
            yield from _riff_chunks(facts, padded - 16, in_frame=True)
        elif kind == b"VP8X" and length >= 10:
            canvas = yield Read(padded)
            facts.width = int.from_bytes(canvas[4:7], "little") + 1
            facts.height = int.from_bytes(canvas[7:10], "little") + 1
        elif kind == b"VP8 " and facts.width is None and length >= 10:
            frame = yield Read(10)
            if frame[3:6] == b"\x9d\x01\x2a":
                width, height = struct.unpack("<HH", frame[6:10])
                facts.width, facts.height = width & 0x3FFF, height & 0x3FFF
            yield Span(padded - 10, scan=False)
        elif kind == b"VP8L" and facts.width is None and length >= 5:
            frame = yield Read(5)
            if frame[0] == 0x2F:
                bits = int.from_bytes(frame[1:5], "little")
                facts.width, facts.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            yield Span(padded - 5, scan=False)
        elif kind == b"EXIF" and not facts.exif_seen and length <= EXIF_MAX_BYTES:
            _exif(facts, (yield Read(padded)))
        else:
            yield Span(padded, scan=kind not in _WEBP_BITSTREAMS)


def _box_type(kind: bytes) -> bool:
    return all(0x20 <= c <= 0x7E or c == 0xA9 for c in kind)


def _bmff(facts: Facts) -> Walker:
    """Top-level boxes one after another; the image ends where they do. `meta` is read whole;
    `mdat` (the coded images) is passed over, except the metadata items `meta` locates in it."""
    position = 0
    meta: bmff.Meta | None = None
    while True:
        facts.ended = meta is not None  # between boxes, once the image is described
        header = yield Read(8)
        size, kind = struct.unpack(">I4s", header)
        if not _box_type(kind):
            return  # not a box: a trailer (zero padding, for one)
        header_size = 8
        if size == 1:
            (size,) = struct.unpack(">Q", (yield Read(8)))
            header_size = 16
        elif size == 0:
            size = _UNTIL_THE_END
        if size < header_size:
            return
        facts.ended = size == _UNTIL_THE_END and meta is not None
        body = size - header_size
        start = position + header_size
        if kind == b"meta" and meta is None and body <= META_MAX_BYTES:
            meta = bmff.read_meta((yield Read(body)))
            facts.width, facts.height = meta.width, meta.height
            facts.needed = meta.data_end
            if meta.orientation is not None:
                facts.exif_seen, facts.orientation = True, meta.orientation
        elif kind == b"mdat" and meta is not None:
            yield from _mdat(facts, meta, start, body)
        else:
            yield Span(body, scan=kind != b"mdat")
        position += size


def _mdat(facts: Facts, meta: bmff.Meta, start: int, size: int) -> Walker:
    """Coded image data, passed over, but the Exif item is read and XMP items are searched."""
    regions = [(extent, True) for extent in meta.text]
    if meta.exif is not None:
        regions.append((meta.exif, False))
    at = start
    for extent, is_text in sorted(regions, key=lambda region: region[0].offset):
        if extent.offset < at or extent.offset + extent.length > start + size:
            continue  # outside this box, or overlapping the last region
        yield Span(extent.offset - at, scan=False)
        if is_text or extent.length > EXIF_MAX_BYTES or facts.exif_seen:
            yield Span(extent.length, scan=True)
        else:
            facts.exif_seen = True
            facts.orientation = bmff.exif_item_orientation((yield Read(extent.length)))
        at = extent.offset + extent.length
    yield Span(start + size - at, scan=False)
