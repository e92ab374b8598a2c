"""One streaming pass over an upload: its size, SHA-256, type, dimensions, EXIF orientation,
where the image ends, and any markup, with no second pass and nothing buffered but bounded
headers.

Where an image ends: JPEG at the primary image's EOI, and at the EOI of any further frames that
start right after it (MPO, gain maps); PNG at IEND; GIF at its trailer; WebP where its RIFF size
says; AVIF and HEIC where the top-level boxes end, and no earlier than the data its items are
located at. Bytes after the end are a trailer (Samsung's SEFH...SEFT, a motion photo's MP4,
padding): kept byte for byte and searched for markup.

Truncated means the body ended before the image did: inside a header, a segment, a chunk or a
box, or in JPEG scan data with nothing after it. JPEG scan data that runs into bytes that are not
JPEG, or into Samsung's trailer closing the file, has ended: some phones write no EOI
before their trailer, and every decoder shows such a file."""

from __future__ import annotations

import hashlib
import re

from imageapi.core.errors import Unprocessable, UnsupportedMediaType

from . import bmff, gif, jpeg, png, webp
from .containers import REST, Facts, Marker, Read, Rest, Span, Step, Walker
from .imaging import EXTENSIONS, ImageInfo, accepted_type, sniff
from .markup import MarkupSearch

HEAD_BYTES = 256  # the type: 12 bytes, or an ISO-BMFF `ftyp` box with its brands
_SAMSUNG_TRAILER_END = b"SEFT"

# Walking costs a Python step per structure, so a file made of tiny ones (1-byte GIF blocks,
# empty chunks, bare JPEG markers) would tie up the event loop for minutes. Past this allowance
# the rest is searched as text, at regex speed: it is never left unsearched, but where it ends
# is no longer known, so it is not held to the end rule (an animation of many tiny frames can
# come this far). Its dimensions must have been read before.
STEP_ALLOWANCE = 10_000
BYTES_PER_STEP = 128  # a GIF's sub-blocks, the smallest real structures, take one step per 256

# A JPEG marker inside scan data: 0xFF and a byte that is not a stuffed zero or a restart marker
# (a fill 0xFF counts: the walker reads on). A leading literal keeps the search at C speed.
_JPEG_MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7])")


def walker(head: bytes, facts: Facts) -> Walker | None:
    """The walker for the format the first 12 bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return jpeg.walk(facts)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return png.walk(facts)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return gif.walk(facts)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return webp.walk(facts)
    if head[4:8] == b"ftyp":
        return bmff.walk(facts)
    return None


class ImageInspector:
    """Fed an upload chunk by chunk, then `finish()`ed: what the image is, or why it is refused."""

    def __init__(self) -> None:
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.steps = 0  # structures walked
        self._facts = Facts()
        self._markup = MarkupSearch()
        self._walker: Walker | None = None
        self._step: Step = REST
        self._started = False
        self._abandoned = False  # too many structures: the rest was searched as text only
        self._head = bytearray()
        self._tail = b""  # the last bytes, for a trailer's closing signature
        self._held = b""  # bytes not consumed yet: a format's first 12 bytes, or a JPEG 0xFF
        self._read = bytearray()  # a Read being gathered across chunks
        self._left = 0  # bytes left in a Span or GIF sub-block
        self._base = 0  # the file offset of the data being consumed

    @property
    def content_type(self) -> str | None:
        """The type the first bytes announce, once 12 have been fed; None before, or if they
        announce no accepted type."""
        return sniff(bytes(self._head)) if self.size >= 12 else None

    @property
    def head(self) -> bytes:
        """The first bytes fed (up to HEAD_BYTES): what the type is sniffed from."""
        return bytes(self._head)

    @property
    def markup_found(self) -> bool:
        return self._markup.found

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.sha256.update(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._tail = (self._tail + chunk[-len(_SAMSUNG_TRAILER_END) :])[-len(_SAMSUNG_TRAILER_END) :]
        if self._markup.found:
            return  # refused whatever follows
        data = self._held + chunk if self._held else chunk
        self._held = b""
        self._base = self.size - len(data)  # data[0]'s offset in the file
        if not self._started:
            if len(data) < 12:  # too few to tell the type; a whole file this short is searched too
                self._held = data
                self._markup.search(data, seen=self.size)
                return
            self._started = True
            self._walker = walker(data, self._facts)
            self._step = next(self._walker) if self._walker else REST  # always a Read: never empty
        position = 0
        while position < len(data) and not self._markup.found:
            if self._walker is not None and self.steps > STEP_ALLOWANCE + self.size // BYTES_PER_STEP:
                self._step, self._walker, self._abandoned = REST, None, True
            position = self._consume(data, position)

    def finish(self, *, max_pixels: int) -> ImageInfo:
        """After the last chunk: 415 for markup or an unaccepted type, 422 for a truncated image,
        one without dimensions, or one with zero or more than max_pixels pixels (in any frame)."""
        content_type = accepted_type(bytes(self._head))
        if self._markup.found:
            raise UnsupportedMediaType("The file contains markup or script: polyglot files are refused")
        facts = self._facts
        if facts.malformed:
            raise Unprocessable(f"The image is malformed: {facts.malformed}")
        ended = facts.ended or self._ran_into_a_trailer() or self._abandoned  # past the allowance: unknown
        if not ended or self.size < facts.needed:
            raise Unprocessable("The image is truncated: the file ends before the image does")
        if facts.width is None or facts.height is None:
            raise Unprocessable("The image's dimensions could not be read from its header")
        if facts.width == 0 or facts.height == 0:
            raise Unprocessable("The image declares a zero width or height")
        if max(facts.width * facts.height, facts.frame_pixels) > max_pixels:
            raise Unprocessable(f"The image declares more than {max_pixels} pixels")
        return ImageInfo(content_type, EXTENSIONS[content_type], facts.width, facts.height, facts.orientation)

    def _ran_into_a_trailer(self) -> bool:
        """A JPEG whose scan data went on into a Samsung trailer closing the file (its bytes may
        even have looked like markers and segments)."""
        return self._facts.scanned and self._tail == _SAMSUNG_TRAILER_END

    def _consume(self, data: bytes, position: int) -> int:
        """Consumes data from position for the current step; returns where it stopped."""
        step = self._step
        if isinstance(step, Rest):
            self._search(data[position:])
            return len(data)
        if isinstance(step, Read):
            taken = data[position : position + step.n - len(self._read)]
            self._read += taken
            self._search(taken)
            if len(self._read) == step.n:
                value, self._read = bytes(self._read), bytearray()
                self._advance(value, position + len(taken))
            return position + len(taken)
        if isinstance(step, Marker):
            match = _JPEG_MARKER.search(data, position)
            end = len(data) if match is None else match.start()
            if step.scan:
                self._search(data[position:end])
            else:
                self._markup.gap()
            if match is None:  # a trailing 0xFF may start the next marker
                if data.endswith(b"\xff"):
                    self._held = b"\xff"
                return len(data)
            self._search(match.group(0))  # the marker is read as a structure: '\xff<svg' is not one
            self._advance(match.group(1)[0], match.end())
            return match.end()
        if isinstance(step, Span):
            if not self._left:
                self._left = step.n
            return self._take(data, position, scan=step.scan, sub_block=False)
        # SubBlocks: a size byte, that many bytes, until a zero size
        if not self._left:
            size = data[position]
            self.steps += 1
            if step.scan:
                self._search(data[position : position + 1])
            if size == 0:
                self._advance(None, position + 1)
                return position + 1
            self._left = size
            position += 1
        return self._take(data, position, scan=step.scan, sub_block=True)

    def _take(self, data: bytes, position: int, *, scan: bool, sub_block: bool) -> int:
        """Up to self._left bytes, searched or not; once all are taken, the walker moves on (a
        sub-block's step goes on to the next sub-block instead)."""
        end = min(len(data), position + self._left)
        if scan:
            self._search(data[position:end])
        else:
            self._markup.gap()
        self._left -= end - position
        if not self._left and not sub_block:
            self._advance(None, end)
        return end

    def _advance(self, value: bytes | int | None, at: int) -> None:
        """Sends the walker what its step yielded; at: where in the data that step ended."""
        assert self._walker is not None
        self.steps += 1
        self._facts.offset = self._base + at
        try:
            step = self._walker.send(value)
            while isinstance(step, Span) and step.n <= 0:  # empty: settled now, at the body's end too
                step = self._walker.send(None)
            self._step = step
        except StopIteration:  # past the image's end: search the rest
            self._step, self._walker = REST, None

    def _search(self, data: bytes) -> None:
        self._markup.search(data, seen=self.size)
