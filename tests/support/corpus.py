"""The real-world corpus (tests/corpus): files nobody on this project made, what Pillow says
each one is, and variants of them made the way phones and old tools make them."""

from __future__ import annotations

import functools
import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
FILES = [entry["file"] for entry in MANIFEST]
pillow_heif.register_heif_opener()  # Pillow opens AVIF itself, HEIC only through pillow-heif

_TYPES = {
    "JPEG": {"image/jpeg"},
    "MPO": {"image/jpeg"},
    "PNG": {"image/png"},
    "GIF": {"image/gif"},
    "WEBP": {"image/webp"},
    "AVIF": {"image/avif"},
    "HEIF": {"image/heic", "image/heif"},
}


def read(name: str) -> bytes:
    return (CORPUS / "files" / name).read_bytes()


@dataclass(frozen=True)
class Expected:
    """What Pillow reports: the type, the first frame's size as stored, and the orientations (EXIF
    style) that show those pixels as a decoder displays them."""

    content_types: set[str]
    sizes: set[tuple[int, int]]
    orientations: set[int | None]

    def matches(self, content_type: str, width: int, height: int, orientation: int | None) -> bool:
        return (
            content_type in self.content_types
            and (width, height) in self.sizes
            and orientation in self.orientations
        )


@functools.cache
def expected(data: bytes) -> Expected:
    """Pillow (with pillow-heif for HEIF) as the oracle. Pillow falls back on XMP's
    tiff:Orientation; the API reports EXIF's own orientation, so that habit is undone. Its AVIF
    opener (libavif) reports the stored size, and the orientation `irot` and `imir` amount to
    (1 for neither where the Exif item has one): what the API reports."""
    with Image.open(io.BytesIO(data)) as image:
        fmt = image.format or ""
        size = image.size
        image.info.pop("xmp", None)
        image.info.pop("XML:com.adobe.xmp", None)
        orientation = image.getexif().get(0x0112)
    if fmt == "HEIF":
        return _heif_expected(data, _TYPES[fmt])
    return Expected(_TYPES[fmt], {size}, {orientation if orientation in range(1, 9) else None})


def _heif_expected(data: bytes, content_types: set[str]) -> Expected:
    """libheif (through pillow-heif) decodes the primary image as it is displayed: cropped by its
    `clap`, then turned by its `irot` and `imir`. The same file with those two made neutral
    decodes to the stored pixels; the orientations expected are those that turn the one into the
    other. Where nothing turns, 1 if the Exif item has an orientation (pillow-heif keeps it as 1),
    else None."""
    displayed = pillow_heif.open_heif(io.BytesIO(data)).to_pillow()
    stored = pillow_heif.open_heif(io.BytesIO(_without_rotation(data))).to_pillow()
    turns: set[int | None] = {
        value
        for value in range(1, 9)
        if _oriented(stored, value).size == displayed.size
        and _oriented(stored, value).tobytes() == displayed.tobytes()
    }
    if 1 in turns:
        turns = {1 if displayed.getexif().get(0x0112) is not None else None}
    return Expected(content_types, {stored.size}, turns)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _oriented(image: Image.Image, orientation: int) -> Image.Image:
    """The image shown as EXIF orientation says (what ImageOps.exif_transpose does)."""
    return image if orientation == 1 else image.transpose(_TRANSPOSE[orientation])


def _without_rotation(data: bytes) -> bytes:
    """The file with every `irot` in its `meta` box turned by zero and every `imir` made an `irot`
    by zero (both are 9-byte boxes, so nothing moves): its decoded pixels are the stored ones."""
    meta = _top_level_box(data, b"meta")
    patched = bytearray(data)
    for kind in (b"irot", b"imir"):
        at = data.find(b"\0\0\0\x09" + kind, *meta)
        while at != -1:
            patched[at + 4 : at + 9] = b"irot\0"
            at = data.find(b"\0\0\0\x09" + kind, at + 9, meta[1])
    return bytes(patched)


def _top_level_box(data: bytes, kind: bytes) -> tuple[int, int]:
    at = 0
    while at + 8 <= len(data):
        size, found = struct.unpack(">I4s", data[at : at + 8])
        if found == kind:
            return at, at + size
        at += size if size >= 8 else len(data)
    raise AssertionError(f"no {kind!r} box")


# Variants: what phones and old tools put after an image's end.


def samsung_trailer() -> bytes:
    """A Samsung Galaxy trailer: data records, then the SEFH directory (per record: type, its
    distance back from SEFH, its length), the directory's size and SEFT."""
    records = [(0x0A01, b"Image_UTC_Data", b"1458170015363"), (0x0AA1, b"MCC_Data", b"310")]
    blocks = [b"\0\0" + struct.pack("<HI", kind, len(name)) + name + value for kind, name, value in records]
    entries, distance = b"", sum(map(len, blocks))
    for (kind, _, _), block in zip(records, blocks, strict=True):
        entries += struct.pack("<HHII", 0, kind, distance, len(block))
        distance -= len(block)
    header = b"SEFH" + struct.pack("<II", 106, len(records)) + entries
    return b"".join(blocks) + header + struct.pack("<I", len(header)) + b"SEFT"


def motion_photo_video() -> bytes:
    """An MP4 as Google's motion photos append it: ftyp, then media data full of 0xFF bytes."""
    ftyp = b"ftypisom\0\0\2\0isomiso2avc1mp41"
    media = bytes((i * 151 + 7) % 256 for i in range(5000))
    return struct.pack(">I", 8 + len(ftyp) - 4) + ftyp + struct.pack(">I", 8 + len(media)) + b"mdat" + media


def without_eoi(jpeg: bytes) -> bytes:
    """A JPEG whose scan data runs on into what follows, as some Samsung panoramas do."""
    assert jpeg.endswith(b"\xff\xd9"), "the corpus JPEGs end at their EOI"
    return jpeg[:-2]


VARIANTS = {
    "zero padding": lambda data: data + b"\0" * 1000,
    "0x1A padding": lambda data: data + b"\x1a" * 128,
    "ZIP appended": lambda data: data + b"PK\x03\x04\x14\0\0\0\x08\0" + bytes(range(256)),
}
JPEG_VARIANTS = {
    "Samsung trailer": lambda data: data + samsung_trailer(),
    "Samsung trailer, no EOI": lambda data: without_eoi(data) + samsung_trailer(),
    "motion photo MP4": lambda data: data + motion_photo_video(),
}
