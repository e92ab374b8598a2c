"""Markup is found where a client reads an image as text, and never in compressed pixel data,
whatever sizes the upload arrives in."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from imageapi.formats.inspection import BYTES_PER_STEP, STEP_ALLOWANCE, ImageInspector
from imageapi.formats.markup import ANGLE_ALLOWANCE
from tests.support.images import make_image, png_chunk, png_declaring

SCRIPT = b"<script>alert(1)</script>"
SVG_TAG = b"<svg onload=alert(1)>"
CHUNK_SIZES = [1, 3, 4096, None]


def found(data: bytes, chunk_size: int | None) -> bool:
    scanner = ImageInspector()
    step = chunk_size or len(data)
    for start in range(0, len(data), step):
        scanner.feed(data[start : start + step])
    return scanner.markup_found


def plant(data: bytes, at: int, markup: bytes = SVG_TAG) -> bytes:
    """data with markup written over the bytes at `at`, which must hold no JPEG marker."""
    if b"\xff" in data[at - 1 : at + len(markup)]:
        raise ValueError(f"planting at {at} would break a marker")
    return data[:at] + markup + data[at + len(markup) :]


def noise(fmt: str, size: tuple[int, int] = (200, 150), **options: object) -> bytes:
    image = Image.frombytes("RGB", size, bytes(range(256)) * (size[0] * size[1] * 3 // 256 + 1))
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """Each scan's SOS marker offset, and where its entropy-coded data starts."""
    scans, at = [], 0
    while (at := data.find(b"\xff\xda", at)) != -1:
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        scans.append((at, at + 2 + length))
        at += 2 + length
    return scans


def gif(*, palette: bytes = b"\0" * 6, blocks: bytes = b"", pixels: bytes = b"\x02\x02\x44\x01\x00") -> bytes:
    """A 1x1 GIF: a global palette (2 ** n entries), extension blocks, one image's LZW data."""
    entries = len(palette) // 3
    flags = 0x80 | (entries.bit_length() - 2)
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, flags, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02" + sub_blocks(pixels)
    return screen + palette + blocks + image + b"\x3b"


def sub_blocks(data: bytes) -> bytes:
    pieces = [data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(bytes([len(piece)]) + piece for piece in pieces) + b"\0"


def riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def frame(*chunks: bytes) -> tuple[bytes, bytes]:
    """An animation frame (ANMF): a 16-byte header, then chunks of its own."""
    return b"ANMF", b"\0" * 16 + b"".join(chunks)


def webp(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"".join(riff_chunk(kind, data) for kind, data in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


VP8 = b"\x10\x02\x00\x9d\x01\x2a\x01\x00\x01\x00" + bytes(range(40))

IN_PIXEL_DATA = {
    "PNG IDAT": png_declaring(10, 10, pixel_data=b"\x78\x9c" + SVG_TAG + SCRIPT),
    "PNG IDAT, Pillow": plant(noise("PNG"), len(noise("PNG")) // 2),
    "JPEG scan": plant(noise("JPEG"), jpeg_scans(noise("JPEG"))[0][1] + 100),
    "JPEG progressive, a later scan": plant(
        noise("JPEG", progressive=True), jpeg_scans(noise("JPEG", progressive=True))[-2][1] + 30
    ),
    "GIF LZW data": gif(pixels=SVG_TAG * 30),
    "WebP VP8": webp((b"VP8 ", VP8 + SVG_TAG)),
    "WebP VP8L and ALPH": webp((b"ALPH", SVG_TAG), (b"VP8L", b"\x2f" + SCRIPT)),
    "WebP animation frame": webp(frame(riff_chunk(b"ALPH", SCRIPT), riff_chunk(b"VP8 ", VP8 + SVG_TAG))),
}

PNG = png_declaring(10, 10)
JPEG = noise("JPEG")
PROGRESSIVE = noise("JPEG", progressive=True)
GIF = gif()
SECOND_SCAN = jpeg_scans(PROGRESSIVE)[1][0]
COMMENT = b"\xff\xfe" + struct.pack(">H", 2 + len(SCRIPT)) + SCRIPT

IN_TEXT = {
    "PNG tEXt before IDAT": PNG[:33] + png_chunk(b"tEXt", b"Comment\0" + SCRIPT) + PNG[33:],
    "PNG iTXt after IDAT": PNG[:-12] + png_chunk(b"iTXt", b"XML\0\0\0\0\0" + SVG_TAG) + PNG[-12:],
    "PNG after IEND": PNG + SCRIPT,
    "JPEG comment": noise("JPEG", comment=SCRIPT),
    "JPEG EXIF": noise("JPEG", exif=b"Exif\0\0" + SVG_TAG),
    "JPEG comment between scans": PROGRESSIVE[:SECOND_SCAN] + COMMENT + PROGRESSIVE[SECOND_SCAN:],
    "JPEG comment after fill bytes": PROGRESSIVE[:SECOND_SCAN]
    + b"\xff\xff"
    + COMMENT
    + PROGRESSIVE[SECOND_SCAN:],
    "JPEG after EOI": JPEG + SCRIPT,
    "JPEG text between segments": JPEG[:20] + SCRIPT + JPEG[20:],
    "GIF comment extension": GIF[:19] + b"\x21\xfe" + sub_blocks(b"x" * 300 + SCRIPT) + GIF[19:],
    "GIF palette": gif(palette=b"<script>....."[:12]),
    "GIF script after the image": GIF[:-1] + SCRIPT + b";",
    "WebP XMP": webp((b"VP8 ", VP8), (b"XMP ", SVG_TAG)),
    "WebP after the RIFF end": webp((b"VP8 ", VP8)) + SCRIPT,
    "WebP chunk inside a frame": webp(frame(riff_chunk(b"VP8 ", VP8), riff_chunk(b"XMP ", SVG_TAG))),
    "JPEG reserved marker after scan data": b"\xff\xd8\xff\xda\x00\x02\xff" + SVG_TAG + b"\xff\xd9",
    # Sub-blocks of 9 and 32 bytes: the second size byte, a space, ends '<!DOCTYPE '.
    "GIF comment whose size byte completes a tag": GIF[:19]
    + b"\x21\xfe\x09<!DOCTYPE\x20html><p>"
    + b"x" * 24
    + b"\0"
    + GIF[19:],
    "PNG img with onerror": PNG[:33] + png_chunk(b"tEXt", b"c\0<img src=x onerror=alert(1)>") + PNG[33:],
    "PNG XHTML script under a prefix": PNG[:33]
    + png_chunk(b"iTXt", b'x\0\0\0\0\0<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>')
    + PNG[33:],
    "not an image": b"just text, then " + SCRIPT,
    "a JPEG too short to walk": b"\xff\xd8\xff<svg \xff\xd9",
    "SVG": b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>",
    "PHP": b"GIF89a<?php system($_GET['c']); ?>",
}


def test_the_cases_are_what_they_say() -> None:
    assert len(jpeg_scans(PROGRESSIVE)) > 2
    assert jpeg_scans(PROGRESSIVE)[0][1] + 100 < SECOND_SCAN  # after the first scan's data
    assert PNG[37:41] == b"IDAT" and PNG[-12:] == png_chunk(b"IEND", b"")
    assert JPEG[20:22] == b"\xff\xdb" and GIF[19] == 0x2C
    assert Image.open(io.BytesIO(GIF)).size == (1, 1)
    Image.open(io.BytesIO(IN_TEXT["JPEG comment between scans"])).load()


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("case", list(IN_PIXEL_DATA))
def test_markup_in_pixel_data_is_not_text(case: str, chunk_size: int | None) -> None:
    assert not found(IN_PIXEL_DATA[case], chunk_size)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("case", list(IN_TEXT))
def test_markup_where_text_is_read_is_found(case: str, chunk_size: int | None) -> None:
    assert found(IN_TEXT[case], chunk_size)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_real_images_are_walked_to_their_end(fmt: str) -> None:
    image = make_image(fmt, (300, 200), noise=True)
    assert not found(image, 4096)
    assert found(image + SCRIPT, 4096)  # only a walker that reached the end scans what follows


def test_a_file_of_tiny_structures_is_searched_as_text_past_the_allowance() -> None:
    # 1-byte GIF sub-blocks, then markup in pixel data: walked to the end, it would be skipped.
    tiny = GIF[:30] + b"\x01x" * STEP_ALLOWANCE * 2 + sub_blocks(SVG_TAG)[:-1] + b"\0;"
    scanner = ImageInspector()
    for start in range(0, len(tiny), 4096):
        scanner.feed(tiny[start : start + 4096])
    assert scanner.markup_found
    assert scanner.steps <= STEP_ALLOWANCE + len(tiny) // BYTES_PER_STEP + len(tiny) // 4096 + 2


def test_text_dense_with_angle_brackets_is_refused_past_its_allowance() -> None:
    assert found(b"not an image " + b"<i" * ANGLE_ALLOWANCE * 2, 65536)
    xmp_like = PNG[:33] + png_chunk(b"iTXt", b"<x>" * (ANGLE_ALLOWANCE // 2)) + PNG[33:]
    assert not found(xmp_like, 65536)


def test_small_chunks_do_not_use_up_the_allowance() -> None:
    # 64 KiB of pixel data fed a byte at a time: 65,536 feeds, but only a handful of structures.
    image = png_declaring(10, 10, pixel_data=SVG_TAG * 3200)
    scanner = ImageInspector()
    for i in range(len(image)):
        scanner.feed(image[i : i + 1])
    assert not scanner.markup_found and scanner.steps < 20


def test_real_structures_stay_within_the_allowance() -> None:
    animation = gif(pixels=SVG_TAG * 500_000)  # 10 MB of LZW data in the largest (255-byte) blocks
    assert not found(animation, 65536)


@pytest.mark.parametrize(
    ("text", "is_markup"),
    [
        (b"<svg>", True),
        (b"<SVG\n", True),
        (b"<Script/", True),
        (b"<!DOCTYPE html>", True),
        (b"<?php echo 1;", True),
        (b"<svgz", False),
        (b"<scripts", False),
        (b"<?phpx", False),
        (b"a < b, svg > c", False),
        (b"<object data=x>", True),
        (b"<EMBED src=x>", True),
        (b"<meta http-equiv=refresh>", True),
        (b"<style>", True),
        (b"xmlns='http://www.w3.org/2000/svg'", True),
        (b"<imgs", False),
    ],
)
def test_a_tag_name_must_end_as_html_ends_it(text: bytes, is_markup: bool) -> None:
    assert found(b"not an image " + text, None) is is_markup
