"""The vocabulary every format's walker speaks while an upload streams: the steps it yields (read n
bytes and send them to me, pass over n bytes, ...) and the `Facts` it records (where the image
ends, its dimensions and EXIF orientation).

Each walker (`jpeg`, `png`, `gif`, `webp`, `bmff`) is a generator; `inspection.ImageInspector`
drives it chunk by chunk, so no walker ever holds more than one bounded structure (a header, a
JPEG segment, an EXIF block, an HEIF `meta` box) in memory. No walker recurses: a crafted file
cannot nest its way past the stack."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from . import exif

EXIF_MAX_BYTES = 1024 * 1024  # a PNG, WebP or HEIF EXIF block read whole; JPEG's is under 64 KiB


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
    # The most pixels a decoder allocates for any one frame (a GIF canvas grown to hold a frame,
    # an MPO's second view, an animation frame's bitstream): held to the limit with width x height.
    frame_pixels: int = 0

    def frame(self, width: int, height: int) -> None:
        self.frame_pixels = max(self.frame_pixels, width * height)


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


def record_exif(facts: Facts, data: bytes) -> None:
    """The first EXIF block decides the orientation, as in every reader."""
    if not facts.exif_seen:
        facts.exif_seen = True
        facts.orientation = exif.orientation(data)
