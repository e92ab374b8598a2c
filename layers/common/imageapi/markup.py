"""Finds markup (HTML, SVG, script, PHP) in an image's readable parts while it streams in.

Polyglots hide markup where a parser keeps text: palettes, metadata and comment segments, or
bytes after the image's end. Compressed pixel data (PNG IDAT, JPEG scans, GIF LZW blocks, WebP
bitstreams) is skipped: no client reads it as text, and in a large photo it holds a chance
'<svg ' every few hundred megabytes, which would refuse real images. The scanner walks each
format's container in a generator; anything it cannot walk is scanned to the end."""

from __future__ import annotations

import re
import struct
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from .imaging import sniff

# Tags that make a document run script or load content. A tag name ends at whitespace, '/' or '>'
# (HTML tokenizer): '<svg ' is markup, '<svgX' is not. Names shorter than three letters are left
# out: in a scanned EXIF thumbnail '<a ' turns up by chance once every ~200 KB. XML reads a
# prefixed name ('<x:script') as script only under the XHTML or SVG namespace: its URI is searched.
_TAGS = b"script|html|svg|iframe|body|img|object|embed|math|style|meta|link|base|form|!doctype"
_MARKUP = re.compile(
    rb"<(?:" + _TAGS + rb")[\t\n\f\r />]|<\?php[\t\n\r ]|http://www\.w3\.org/(?:1999/xhtml|2000/svg)",
    re.IGNORECASE,
)
_OVERLAP = 31  # longer than any match less one byte: a match split across chunks is still found

# Walking costs a Python step per structure, so a file made of tiny ones (1-byte GIF blocks,
# empty chunks, bare JPEG markers) would tie up the event loop for minutes. Past this allowance
# the rest is searched as text, at regex speed: such a file may be refused, never left unsearched.
STEP_ALLOWANCE = 10_000
BYTES_PER_STEP = 128  # a GIF's sub-blocks, the smallest real structures, take one step per 256

# The search slows down on text dense with '<' (all '<': about 9 MB/s). Text regions that dense
# beyond this allowance are refused as markup; real metadata (XMP is XML) stays far below it.
ANGLE_ALLOWANCE = 100_000
BYTES_PER_ANGLE = 32

# A JPEG marker inside scan data: 0xFF and a byte that is not a stuffed zero or a restart marker
# (a fill 0xFF counts: the walker reads on). A leading literal keeps the search at C speed.
_JPEG_MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7])")


@dataclass(frozen=True)
class _Read:
    """The next n bytes, scanned and sent to the walker (headers, lengths, markers)."""

    n: int


@dataclass(frozen=True)
class _Span:
    """The next n bytes: scanned (palettes, metadata, comments, unknown chunks) or passed over
    (compressed pixel data)."""

    n: int
    scan: bool


@dataclass(frozen=True)
class _SubBlocks:
    """GIF data sub-blocks up to their zero terminator, scanned or passed over."""

    scan: bool


class _Marker:
    """Pass over JPEG scan data up to the next marker, whose code is sent to the walker."""


class _Rest:
    """Scan everything that remains."""


_Step = _Read | _Span | _SubBlocks | _Marker | _Rest
_Walker = Generator[_Step, Any, None]  # sent: the bytes of a _Read, a JPEG marker, or None
_REST = _Rest()
_MARKER = _Marker()


def _png() -> _Walker:
    yield _Read(8)  # signature
    while True:
        length, kind = struct.unpack(">I4s", (yield _Read(8)))
        yield _Span(length, scan=kind not in (b"IDAT", b"fdAT"))
        yield _Read(4)  # CRC
        if kind == b"IEND":
            return


def _jpeg() -> _Walker:
    yield _Read(2)  # SOI
    marker: int | None = None
    while True:
        if marker is None:
            prefix = yield _Read(2)
            if prefix[0] != 0xFF:
                return
            marker = prefix[1]
        if marker == 0xFF:  # fill byte before a marker
            marker = (yield _Read(1))[0]
            continue
        if marker == 0xD9 or 0x02 <= marker <= 0xBF:  # EOI, or a reserved marker: not JPEG
            return
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            marker = None
            continue
        (length,) = struct.unpack(">H", (yield _Read(2)))
        if length < 2:
            return
        yield _Span(length - 2, scan=True)
        marker = (yield _MARKER) if marker == 0xDA else None  # SOS: scan data follows


def _gif() -> _Walker:
    screen = yield _Read(13)  # signature and logical screen descriptor
    if screen[10] & 0x80:
        yield _Span(3 << ((screen[10] & 7) + 1), scan=True)  # global palette
    while True:
        introducer = (yield _Read(1))[0]
        if introducer == 0x21:  # extension: label, then comment or application text
            yield _Read(1)
            yield _SubBlocks(scan=True)
        elif introducer == 0x2C:  # image: descriptor, local palette, LZW data
            descriptor = yield _Read(9)
            if descriptor[8] & 0x80:
                yield _Span(3 << ((descriptor[8] & 7) + 1), scan=True)
            yield _Read(1)  # LZW minimum code size
            yield _SubBlocks(scan=False)
        else:  # the trailer, or bytes that are not GIF
            return


_WEBP_BITSTREAMS = (b"VP8 ", b"VP8L", b"ALPH")


def _webp() -> _Walker:
    header = yield _Read(12)  # RIFF, size, WEBP
    yield from _riff_chunks(8 + struct.unpack("<I", header[4:8])[0] - 12)


def _riff_chunks(size: int) -> _Walker:
    """size bytes of chunks; an animation frame (ANMF) holds chunks of its own after a header."""
    while size > 0:
        kind, length = struct.unpack("<4sI", (yield _Read(8)))
        padded = length + (length & 1)
        if kind == b"ANMF" and length >= 16:
            yield _Span(16, scan=True)  # position, size, duration, flags
            yield from _riff_chunks(padded - 16)
        else:
            yield _Span(padded, scan=kind not in _WEBP_BITSTREAMS)
        size -= 8 + padded


_WALKERS = {"image/png": _png, "image/jpeg": _jpeg, "image/gif": _gif, "image/webp": _webp}


class MarkupScanner:
    """Fed an upload chunk by chunk; `found` once markup appears in a part read as text."""

    def __init__(self) -> None:
        self.found = False
        self.steps = 0  # structures walked
        self._walker: _Walker | None = None
        self._step: _Step = _REST
        self._started = False
        self._held = b""  # bytes not consumed yet: a format's first 12 bytes, or a JPEG 0xFF
        self._read = bytearray()  # a _Read being gathered across chunks
        self._left = 0  # bytes left in a _Span or GIF sub-block
        self._carry = b""  # the end of the last scanned bytes, for markup split across chunks
        self._seen = 0
        self._angles = 0  # '<' in the scanned bytes

    def feed(self, chunk: bytes) -> None:
        if self.found:
            return
        self._seen += len(chunk)
        data = self._held + chunk if self._held else chunk
        self._held = b""
        if not self._started:
            if len(data) < 12:  # too few to tell the type; a whole file this short is read too
                self._held = data
                if _MARKUP.search(data):
                    self.found = True
                return
            self._started = True
            walk = _WALKERS.get(sniff(data) or "")
            self._walker = walk() if walk else None
            self._step = next(self._walker) if self._walker else _REST
        position = 0
        while position < len(data) and not self.found:
            if self.steps > STEP_ALLOWANCE + self._seen // BYTES_PER_STEP:
                self._step, self._walker = _REST, None
            position = self._consume(data, position)

    def _consume(self, data: bytes, position: int) -> int:
        """Consumes data from position for the current step; returns where it stopped."""
        step = self._step
        if isinstance(step, _Rest):
            self._scan(data[position:])
            return len(data)
        if isinstance(step, _Read):
            taken = data[position : position + step.n - len(self._read)]
            self._read += taken
            self._scan(taken)
            if len(self._read) == step.n:
                value, self._read = bytes(self._read), bytearray()
                self._advance(value)
            return position + len(taken)
        if isinstance(step, _Marker):
            match = _JPEG_MARKER.search(data, position)
            self._carry = b""
            if match is None:  # a trailing 0xFF may start the next marker
                if data.endswith(b"\xff"):
                    self._held = b"\xff"
                return len(data)
            self._scan(match.group(0))  # the marker is read as a structure: '\xff<svg' is not one
            self._advance(match.group(1)[0])
            return match.end()
        if isinstance(step, _Span):
            if not self._left:
                self._left = step.n
            return self._take(data, position, scan=step.scan, sub_block=False)
        # _SubBlocks: a size byte, that many bytes, until a zero size
        if not self._left:
            size = data[position]
            self.steps += 1
            if step.scan:
                self._scan(data[position : position + 1])
            if size == 0:
                self._advance(None)
                return position + 1
            self._left = size
            position += 1
        return self._take(data, position, scan=step.scan, sub_block=True)

    def _take(self, data: bytes, position: int, *, scan: bool, sub_block: bool) -> int:
        """Up to self._left bytes, scanned or not; once all are taken, the walker moves on (a
        sub-block's step goes on to the next sub-block instead)."""
        if self._left == 0:  # an empty _Span
            self._advance(None)
            return position
        end = min(len(data), position + self._left)
        if scan:
            self._scan(data[position:end])
        else:
            self._carry = b""
        self._left -= end - position
        if not self._left and not sub_block:
            self._advance(None)
        return end

    def _advance(self, value: bytes | int | None) -> None:
        assert self._walker is not None
        self.steps += 1
        try:
            self._step = self._walker.send(value)
        except StopIteration:  # past the image's end, or lost: scan the rest
            self._step = _REST

    def _scan(self, data: bytes) -> None:
        if not data:
            return
        self._angles += data.count(b"<")
        dense = self._angles > ANGLE_ALLOWANCE + self._seen // BYTES_PER_ANGLE
        # The carry joined with this chunk's start, then the chunk alone: no copy of the chunk.
        across = bool(self._carry) and _MARKUP.search(self._carry + data[:_OVERLAP]) is not None
        if dense or across or _MARKUP.search(data):
            self.found = True
        self._carry = (self._carry + data)[-_OVERLAP:] if len(data) < _OVERLAP else data[-_OVERLAP:]
