"""The real-world corpus (tests/corpus): files nobody on this project made, what Pillow says
each one is, and variants of them made the way phones and old tools make them."""

from __future__ import annotations

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
    """What Pillow reports: the type, the first frame's size, the EXIF orientation."""

    content_types: set[str]
    sizes: set[tuple[int, int]]
    orientation: int | None

    def matches(self, content_type: str, width: int, height: int, orientation: int | None) -> bool:
        return (
            content_type in self.content_types
            and (width, height) in self.sizes
            and orientation == self.orientation
        )


def expected(data: bytes) -> Expected:
    """Pillow (with pillow-heif for HEIC) as the oracle. Two of its habits are undone: it falls back
    on XMP's tiff:Orientation, and its AVIF and HEIF openers turn the `irot`/`imir` boxes into an
    orientation (pillow-heif also rotates the size); the API reports EXIF's own orientation and
    the stored pixel size."""
    with Image.open(io.BytesIO(data)) as image:
        fmt = image.format or ""
        sizes = {image.size}
        image.info.pop("xmp", None)
        image.info.pop("XML:com.adobe.xmp", None)
        orientation = image.getexif().get(0x0112)
    if fmt in ("AVIF", "HEIF"):
        heif = pillow_heif.open_heif(io.BytesIO(data))
        raw = heif.info.get("exif")
        orientation = heif.info.get("original_orientation") or (
            Image.Exif().get(0x0112) if raw is None else _exif(raw).get(0x0112)
        )
        if b"irot" in data:  # pillow-heif reports the size after the rotation
            sizes |= {(height, width) for width, height in sizes}
    return Expected(_TYPES[fmt], sizes, orientation if orientation in range(1, 9) else None)


def _exif(raw: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(raw)
    return exif


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
