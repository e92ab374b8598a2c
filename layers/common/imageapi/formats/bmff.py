"""HEIF and AVIF (ISO/IEC 23008-12 over ISO-BMFF, ISO/IEC 14496-12): the walk over the top-level
boxes, and what the `meta` box says (the primary item's size, where its items' data lies).

The `meta` box is small (item list, locations, properties) and read whole; the coded images it
points at, usually in `mdat`, are passed over."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from . import exif
from .containers import EXIF_MAX_BYTES, Facts, Read, Span, Walker
from .orientation import from_transforms

MAX_ITEMS = 10_000  # an iPhone photo's grid has a few dozen tiles


@dataclass(frozen=True)
class Extent:
    """Bytes of an item at an absolute file offset."""

    offset: int
    length: int


@dataclass(frozen=True)
class Geometry:
    """The primary item's stored size (after any crop) and the EXIF orientation its `irot` and
    `imir` amount to (None when it has neither)."""

    width: int
    height: int
    orientation: int | None


@dataclass
class Meta:
    width: int | None = None  # the primary item's, as stored (after its crop, before rotation)
    height: int | None = None
    orientation: int | None = None  # what its irot and imir amount to; None for neither
    exif_orientation: int | None = None  # the Exif item's when it lies in the meta box (idat)
    exif_read: bool = False
    exif: Extent | None = None  # the Exif item, when it lies in the file rather than in the meta box
    text: list[Extent] = field(default_factory=list)  # XMP and other metadata items: read as text
    data_end: int = 0  # where the last byte any item needs lies: a shorter file is truncated


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in data[start:end]; stops at a malformed one."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if size == 1 and start + 16 <= end:
            (size,) = struct.unpack(">Q", data[start + 8 : start + 16])
            header = 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start + header, start + size
        start += size


def read_meta(data: bytes) -> Meta:
    """The facts of a `meta` box's body (a full box: version and flags first); a malformed box
    gives what could be read before the fault."""
    meta = Meta()
    with contextlib.suppress(struct.error, IndexError, ValueError):
        _read(data, meta)
    return meta


def _read(data: bytes, meta: Meta) -> None:
    children = {kind: (start, end) for kind, start, end in boxes(data, 4)}
    primary = _primary(data, children.get(b"pitm"))
    types = _item_types(data, children.get(b"iinf"))
    locations = _locations(data, children.get(b"iloc"))
    if b"iprp" in children:
        geometry = _primary_geometry(data, *children[b"iprp"], primary=primary)
        if geometry is not None:
            meta.width, meta.height, meta.orientation = geometry.width, geometry.height, geometry.orientation
    idat = children.get(b"idat")
    for item, (method, extents) in locations.items():
        if method == 0:
            for extent in extents:
                if extent.length:
                    meta.data_end = max(meta.data_end, extent.offset + extent.length)
        kind = types.get(item)
        if kind == b"Exif" and len(extents) == 1 and meta.exif is None and not meta.exif_read:
            if method == 0:
                meta.exif = extents[0]
            elif method == 1 and idat is not None:
                start = idat[0] + extents[0].offset
                meta.exif_read = True
                meta.exif_orientation = exif_item_orientation(data[start : start + extents[0].length])
        elif kind in (b"mime", b"uri ") and method == 0:
            meta.text.extend(extents)


def exif_item_orientation(item: bytes) -> int | None:
    """An Exif item starts with the offset of its TIFF header after these 4 bytes."""
    if len(item) < 4:
        return None
    (skip,) = struct.unpack(">I", item[:4])
    return exif.orientation(item[4 + skip :])


def _full_box(data: bytes, start: int) -> tuple[int, int]:
    return data[start], int.from_bytes(data[start + 1 : start + 4], "big")


def _primary(data: bytes, box: tuple[int, int] | None) -> int | None:
    if box is None:
        return None
    version, _ = _full_box(data, box[0])
    width = 2 if version == 0 else 4
    return int.from_bytes(data[box[0] + 4 : box[0] + 4 + width], "big")


def _item_types(data: bytes, box: tuple[int, int] | None) -> dict[int, bytes]:
    if box is None:
        return {}
    version, _ = _full_box(data, box[0])
    start = box[0] + (6 if version == 0 else 8)
    types: dict[int, bytes] = {}
    for kind, body, _ in boxes(data, start, box[1]):
        if kind != b"infe" or len(types) >= MAX_ITEMS:
            continue
        infe_version, _ = _full_box(data, body)
        if infe_version < 2:
            continue
        width = 2 if infe_version == 2 else 4
        item = int.from_bytes(data[body + 4 : body + 4 + width], "big")
        at = body + 4 + width + 2  # protection index
        types[item] = data[at : at + 4]
    return types


def _locations(data: bytes, box: tuple[int, int] | None) -> dict[int, tuple[int, list[Extent]]]:
    """item id -> (construction method, extents); method 0 offsets are absolute in the file."""
    if box is None:
        return {}
    at = box[0]
    version, _ = _full_box(data, at)
    sizes = data[at + 4], data[at + 5]
    offset_size, length_size = sizes[0] >> 4, sizes[0] & 15
    base_size, index_size = sizes[1] >> 4, (sizes[1] & 15) if version in (1, 2) else 0
    at += 6
    count_width = 2 if version < 2 else 4
    count = _uint(data, at, count_width)
    at += count_width
    locations = {}
    for _ in range(min(count, MAX_ITEMS)):
        item = _uint(data, at, count_width)
        at += count_width
        method = 0
        if version in (1, 2):
            method = _uint(data, at, 2) & 15
            at += 2
        at += 2  # data reference index
        base = _uint(data, at, base_size)
        at += base_size
        extent_count = _uint(data, at, 2)
        at += 2
        extents = []
        for _ in range(extent_count):
            at += index_size
            offset = _uint(data, at, offset_size)
            at += offset_size
            length = _uint(data, at, length_size)
            at += length_size
            extents.append(Extent(base + offset, length))
        locations[item] = (method, extents)
    return locations


def _primary_geometry(data: bytes, start: int, end: int, *, primary: int | None) -> Geometry | None:
    """The primary item's properties (`ipco`, by the associations `ipma` lists for its id, in
    order): its `ispe`, cropped by a `clap`, and the `irot` and `imir` that follow."""
    children = {kind: (body, stop) for kind, body, stop in boxes(data, start, end)}
    if b"ipco" not in children or b"ipma" not in children:
        return None
    properties = [(kind, body) for kind, body, _ in boxes(data, *children[b"ipco"])]
    at = children[b"ipma"][0]
    version, flags = _full_box(data, at)
    at += 4
    count = _uint(data, at, 4)
    at += 4
    for _ in range(min(count, MAX_ITEMS)):
        width = 2 if version < 1 else 4
        item = _uint(data, at, width)
        at += width
        associations = data[at]
        at += 1
        indices = []
        for _ in range(associations):
            if flags & 1:
                indices.append(_uint(data, at, 2) & 0x7FFF)
                at += 2
            else:
                indices.append(data[at] & 0x7F)
                at += 1
        if item == primary:
            return _apply(data, [properties[index - 1] for index in indices if 1 <= index <= len(properties)])
    return None


def _apply(data: bytes, properties: list[tuple[bytes, int]]) -> Geometry | None:
    """The item's stored size after its crop, and the EXIF orientation its rotation and mirroring
    amount to (HEIF orders them: clap, then irot, then imir)."""
    size: tuple[int, int] | None = None
    transforms: list[str] = []
    for kind, body in properties:
        if kind == b"ispe" and size is None:
            size = struct.unpack(">II", data[body + 4 : body + 12])
        elif kind == b"clap" and size is not None:
            size = _cropped(size, struct.unpack(">IIIIiIiI", data[body : body + 32]))
            if size is None:
                return None  # a crop decoders refuse: no dimensions
        elif kind == b"irot":
            transforms += ["rotate"] * (data[body] & 3)
        elif kind == b"imir":
            transforms.append("flip-lr" if data[body] & 1 else "flip-tb")
    if size is None:
        return None
    turned = from_transforms(transforms)
    return Geometry(*size, turned if turned != 1 else None)


def _cropped(size: tuple[int, int], clap: tuple[int, ...]) -> tuple[int, int] | None:
    """The size libheif crops an image to: clean aperture width and height, centred on the image's
    centre plus the offsets, rounded as libheif rounds, and clamped to the image."""
    width_n, width_d, height_n, height_d, left_n, left_d, top_n, top_d = clap
    if 0 in (width_d, height_d, left_d, top_d):
        return None
    width = _aperture(size[0], Fraction(width_n, width_d), Fraction(left_n, left_d), truncate_first=True)
    height = _aperture(size[1], Fraction(height_n, height_d), Fraction(top_n, top_d), truncate_first=False)
    if width is None or height is None:
        return None
    return width, height


def _aperture(extent: int, aperture: Fraction, offset: Fraction, *, truncate_first: bool) -> int | None:
    """The pixels a clean aperture keeps of one dimension, as libheif computes them: the near edge
    (left truncated, top rounded), the far edge rounded from it, both then clamped to the image."""
    near = offset + Fraction(extent - 1, 2) - (aperture - 1) / 2
    first = math.trunc(near) if truncate_first else _round(near)
    last = _round(aperture - 1 + first)
    first, last = max(first, 0), min(last, extent - 1)
    return last - first + 1 if first <= last else None


def _round(value: Fraction) -> int:
    """C's (numerator + denominator / 2) / denominator, which truncates toward zero."""
    return math.trunc(Fraction(value.numerator + value.denominator // 2, value.denominator))


def _uint(data: bytes, at: int, size: int) -> int:
    if size == 0:
        return 0
    if at + size > len(data):
        raise ValueError("box ends early")
    return int.from_bytes(data[at : at + size], "big")


# The walk over the top-level boxes of an HEIF or AVIF file, as it streams.

META_MAX_BYTES = 16 * 1024 * 1024  # an HEIF `meta` box: a phone photo's is a few KiB
_UNTIL_THE_END = 1 << 62  # a box whose size says it runs to the end of the file


def _box_type(kind: bytes) -> bool:
    return all(0x20 <= c <= 0x7E or c == 0xA9 for c in kind)


def walk(facts: Facts) -> Walker:
    """Top-level boxes one after another; the image ends where they do. `meta` is read whole;
    `mdat` (the coded images) is passed over, except the metadata items `meta` locates in it."""
    position = 0
    meta: Meta | None = None
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
            meta = read_meta((yield Read(body)))
            facts.width, facts.height = meta.width, meta.height
            facts.needed = meta.data_end
            facts.orientation = meta.orientation
            if meta.exif_read:
                _record_exif(facts, meta.exif_orientation)
        elif kind == b"mdat" and meta is not None:
            yield from _mdat(facts, meta, start, body)
        else:
            yield Span(body, scan=kind != b"mdat")
        position += size


def _mdat(facts: Facts, meta: Meta, start: int, size: int) -> Walker:
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
            _record_exif(facts, exif_item_orientation((yield Read(extent.length))))
        at = extent.offset + extent.length
    yield Span(start + size - at, scan=False)


def _record_exif(facts: Facts, exif_orientation: int | None) -> None:
    """In HEIF the primary item's irot and imir alone say how it is shown; an Exif orientation is
    informative only (libheif, browsers and Pillow ignore it). One without them says the stored
    pixels are shown as they are: 1, as Pillow reports it."""
    facts.exif_seen = True
    if exif_orientation is not None and facts.orientation is None:
        facts.orientation = 1
