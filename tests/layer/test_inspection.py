"""ImageInspector on crafted structures: every one gets a clear 4xx, dimensions are found
wherever the frame header is, and the pass holds no more than bounded headers in memory."""

from __future__ import annotations

import hashlib
import io
import struct
import tracemalloc

import pytest
from PIL import Image

from imageapi.core.errors import Unprocessable, UnsupportedMediaType
from imageapi.formats import bmff
from imageapi.formats.imaging import ImageInfo, accepted_type, sniff
from imageapi.formats.inspection import BYTES_PER_STEP, STEP_ALLOWANCE, ImageInspector
from tests.support.corpus import read, samsung_trailer, without_eoi
from tests.support.images import make_image, png_chunk, webp_nesting_frames

MAX_PIXELS = 10**8


def inspect(data: bytes, chunk_size: int = 65536, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    inspector = ImageInspector()
    for start in range(0, len(data), chunk_size):
        inspector.feed(data[start : start + chunk_size])
    return inspector.finish(max_pixels=max_pixels)


def segment(marker: int, data: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", 2 + len(data)) + data


def test_a_webp_nesting_frames_deeply_is_refused_not_a_crash() -> None:
    data = webp_nesting_frames(1100)
    assert len(data) < 30_000
    with pytest.raises(Unprocessable, match="do not nest"):
        inspect(data)


def test_scan_data_running_into_a_samsung_trailer_that_looks_like_a_segment() -> None:
    jpeg = read("exiv2-exiv2-nikon-d70.jpg")
    trailer = b"\xff\xe1\x7f\xff" + samsung_trailer()  # an APP1 longer than what is left
    assert inspect(without_eoi(jpeg) + trailer) == inspect(jpeg)


def jpeg_with_padding_before_sof(padding: int, size: tuple[int, int] = (40, 30)) -> bytes:
    """A real JPEG with padding APP segments (ICC-profile-sized) inserted before its SOF."""
    jpeg = make_image("JPEG", size)
    sof = jpeg.index(b"\xff\xc0")
    apps = b"".join(segment(0xE2, b"ICC_PROFILE\0" + b"\x55" * 65000) for _ in range(padding // 65000))
    return jpeg[:sof] + apps + jpeg[sof:]


def test_dimensions_are_read_past_any_head_window() -> None:
    data = jpeg_with_padding_before_sof(25 * 65000)  # a 25-segment ICC profile
    assert data.index(b"\xff\xc0") > 1024 * 1024
    assert Image.open(io.BytesIO(data)).size == (40, 30)
    info = inspect(data)
    assert (info.width, info.height) == (40, 30)


def test_the_pixel_guard_applies_to_a_frame_header_far_in() -> None:
    data = jpeg_with_padding_before_sof(400_000)
    sof = data.index(b"\xff\xc0")
    huge = data[: sof + 5] + struct.pack(">HH", 60000, 60000) + data[sof + 9 :]
    with pytest.raises(Unprocessable, match="more than"):
        inspect(huge)


def test_no_frame_header_is_a_clear_422() -> None:
    jpeg = make_image("JPEG")
    sof = jpeg.index(b"\xff\xc0")
    (length,) = struct.unpack(">H", jpeg[sof + 2 : sof + 4])
    with pytest.raises(Unprocessable, match="dimensions could not be read"):
        inspect(jpeg[:sof] + jpeg[sof + 2 + length :])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8, 9])
def test_exif_orientation(fmt: str, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.new("RGB", (5, 3)).save(out, format=fmt, exif=exif.tobytes())
    info = inspect(out.getvalue())
    assert (info.width, info.height) == (5, 3)  # the stored size, whatever the orientation
    assert info.orientation == (orientation if orientation <= 8 else None)


def test_no_exif_means_no_orientation() -> None:
    assert inspect(make_image("JPEG")).orientation is None


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    brands = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(brands)) + b"ftyp" + brands


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (ftyp(b"avif", b"mif1", b"miaf"), "image/avif"),
        (ftyp(b"mif1", b"avif", b"miaf"), "image/avif"),
        (ftyp(b"heic", b"mif1"), "image/heic"),
        (ftyp(b"mif1", b"heic"), "image/heic"),
        (ftyp(b"heix", b"mif1"), "image/heic"),
        (ftyp(b"mif1", b"miaf"), "image/heif"),
        (ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (ftyp(b"qt  "), None),
    ],
)
def test_iso_bmff_brands(head: bytes, content_type: str | None) -> None:
    assert sniff(head) == content_type
    if content_type is None:
        with pytest.raises(UnsupportedMediaType):
            accepted_type(head)


def test_content_type_size_and_digest_while_streaming() -> None:
    data = make_image("PNG")
    inspector = ImageInspector()
    inspector.feed(data[:11])
    assert inspector.content_type is None
    inspector.feed(data[11:12])
    assert inspector.content_type == "image/png"
    inspector.feed(data[12:])
    assert inspector.size == len(data)
    assert inspector.sha256.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_gif_without_its_trailer_is_truncated() -> None:
    gif = make_image("GIF")
    assert gif.endswith(b";")
    with pytest.raises(Unprocessable, match="truncated"):
        inspect(gif[:-1])


def test_jpeg_scan_data_that_stops_is_truncated_but_one_running_into_a_trailer_is_not() -> None:
    jpeg = make_image("JPEG", (64, 64), noise=True)
    with pytest.raises(Unprocessable, match="truncated"):
        inspect(jpeg[:-2])
    with pytest.raises(Unprocessable, match="truncated"):
        inspect(jpeg[:-2] + b"\0" * 100)  # zeros are valid scan data: nothing says it ended
    assert inspect(jpeg[:-2] + b"\xff\x1fnot JPEG any more").width == 64


def test_an_empty_or_unknown_file() -> None:
    with pytest.raises(UnsupportedMediaType):
        inspect(b"")
    with pytest.raises(UnsupportedMediaType):
        inspect(b"BM" + b"\0" * 100)


def test_a_heif_without_a_described_image_is_422() -> None:
    meta_body = b"\0\0\0\0"  # version and flags, then no children: no item, no size
    data = ftyp(b"heic", b"mif1") + struct.pack(">I", 8 + len(meta_body)) + b"meta" + meta_body
    with pytest.raises(Unprocessable, match="dimensions"):
        inspect(data)


def test_a_heif_whose_boxes_end_before_its_items_do_is_truncated() -> None:
    data = read("exiv2-Stonehenge.heic")
    [(mdat_start, mdat_end)] = [(start, end) for kind, start, end in bmff.boxes(data) if kind == b"mdat"]
    assert mdat_end == len(data)
    short = (
        data[: mdat_start - 8]
        + struct.pack(">I", mdat_end - mdat_start - 1000 + 8)
        + data[mdat_start - 4 : -1000]
    )
    with pytest.raises(Unprocessable, match="truncated"):
        inspect(short)


def test_a_large_upload_is_not_held_in_memory() -> None:
    pixels = b"\x78\x9c" + bytes(range(256)) * (256 * 1024)  # 64 MiB of IDAT, fed in 64 KiB chunks
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8000, 8000, 8, 2, 0, 0, 0))
    png = b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")
    del pixels
    inspector = ImageInspector()
    tracemalloc.start()
    try:
        for start in range(0, len(png), 65536):
            inspector.feed(png[start : start + 65536])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # a chunk's slices at most, never the body
    assert inspector.finish(max_pixels=MAX_PIXELS).width == 8000


def test_an_animation_of_many_tiny_frames_is_accepted_past_the_step_allowance() -> None:
    frames = [Image.new("P", (8, 8), i % 256) for i in range(3000)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], optimize=False, duration=20)
    data = out.getvalue()
    inspector = ImageInspector()
    for start in range(0, len(data), 65536):
        inspector.feed(data[start : start + 65536])
    assert inspector.steps <= STEP_ALLOWANCE + len(data) // BYTES_PER_STEP + 2 < 3000 * 5  # not every frame
    info = inspector.finish(max_pixels=MAX_PIXELS)
    assert (info.content_type, info.width, info.height) == ("image/gif", 8, 8)


# The pixel limit holds for every frame a decoder allocates, not only the first header's size.

GIF_FRAME_OVER_A_1X1_SCREEN = (
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00"  # a 1x1 logical screen, no palette
    + b",\x00\x00\x00\x00\xff\xff\xff\xff\x00"  # a 65535x65535 frame at 0,0
    + b"\x02\x02\x4c\x01\x00;"  # LZW data, trailer
)


def test_a_gif_frame_larger_than_its_screen_is_held_to_the_limit() -> None:
    assert len(GIF_FRAME_OVER_A_1X1_SCREEN) == 29
    with pytest.raises(Unprocessable, match="more than"):
        inspect(GIF_FRAME_OVER_A_1X1_SCREEN)
    # Within the limit it is accepted, as large as Pillow shows it.
    assert (inspect(GIF_FRAME_OVER_A_1X1_SCREEN, max_pixels=65535**2)).width == 65535


def test_a_later_gif_frame_outside_the_screen_is_held_to_the_limit() -> None:
    first = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x4c\x01\x00"
    far = b",\xff\xff\xff\xff\x10\x00\x10\x00\x00\x02\x02\x4c\x01\x00"  # 16x16 at 65535,65535
    data = b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + first + far + b";"
    with pytest.raises(Unprocessable, match="more than"):
        inspect(data)
    assert (inspect(data, max_pixels=65551**2).width, inspect(data, max_pixels=65551**2).height) == (1, 1)


def apng(canvas: tuple[int, int], frame: tuple[int, int, int, int]) -> bytes:
    """An APNG whose first frame control (fcTL) says width, height, x and y offsets."""
    control = struct.pack(">IIIIIHHBB", 0, *frame, 1, 10, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", *canvas, 8, 2, 0, 0, 0))
        + png_chunk(b"acTL", struct.pack(">II", 1, 0))
        + png_chunk(b"fcTL", control)
        + png_chunk(b"IDAT", b"x\x9c\x03\x00\x00\x00\x00\x01")
        + png_chunk(b"IEND", b"")
    )


def test_an_apng_frame_outside_its_canvas_is_refused() -> None:
    assert inspect(apng((4, 4), (2, 2, 2, 2))).width == 4
    for frame in [(65535, 65535, 0, 0), (4, 4, 1, 0), (2, 2, 0, 3)]:
        with pytest.raises(Unprocessable, match="APNG frame lies outside"):
            inspect(apng((4, 4), frame))


def animated_webp(
    canvas: tuple[int, int], frame: tuple[int, int, int, int], bitstream: tuple[int, int]
) -> bytes:
    """An animated WebP: a VP8X canvas, one ANMF frame (x, y, width, height) holding a VP8L
    header for a bitstream of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)

    def three(value: int) -> bytes:
        return value.to_bytes(3, "little")

    bits = (bitstream[0] - 1) | (bitstream[1] - 1) << 14
    vp8l = chunk(b"VP8L", b"\x2f" + bits.to_bytes(4, "little") + b"\0" * 8)
    x, y, width, height = frame
    header = three(x // 2) + three(y // 2) + three(width - 1) + three(height - 1) + three(100) + b"\0"
    vp8x = chunk(b"VP8X", b"\x02\0\0\0" + three(canvas[0] - 1) + three(canvas[1] - 1))
    body = b"WEBP" + vp8x + chunk(b"ANIM", b"\0" * 6) + chunk(b"ANMF", header + vp8l)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_an_animated_webp_frame_outside_its_canvas_or_over_the_limit_is_refused() -> None:
    assert inspect(animated_webp((8, 8), (2, 2, 6, 6), (6, 6))).width == 8
    for frame in [(0, 0, 16384, 16384), (4, 0, 6, 6)]:
        with pytest.raises(Unprocessable, match="WebP animation frame lies outside"):
            inspect(animated_webp((8, 8), frame, (6, 6)))
    # A frame's bitstream declaring more than its frame: held to the limit by its own size.
    with pytest.raises(Unprocessable, match="more than"):
        inspect(animated_webp((8, 8), (0, 0, 8, 8), (16384, 16384)), max_pixels=10**8)


def test_every_frame_of_a_jpeg_is_held_to_the_limit() -> None:
    """An MPO's second view decodes too: its SOF counts, not only the first."""
    small = make_image("JPEG", (16, 16))
    large_sof = segment(0xC0, b"\x08" + struct.pack(">HH", 60000, 60000) + b"\x01\x01\x11\x00")
    second = b"\xff\xd8" + large_sof + b"\xff\xd9"
    with pytest.raises(Unprocessable, match="more than"):
        inspect(small + second)


# EXIF orientation as cameras write it.

_TIFF_TYPES = {3: "H", 4: "I", 8: "h", 9: "i"}  # SHORT, LONG, SSHORT, SLONG


def tiff_with_orientation(order: str, kind: int, value: int) -> bytes:
    field = struct.pack(order + _TIFF_TYPES[kind], value).ljust(4, b"\0")
    magic = b"II*\0" if order == "<" else b"MM\0*"
    entry = struct.pack(order + "HHI", 0x0112, kind, 1) + field
    return magic + struct.pack(order + "IH", 8, 1) + entry + b"\0\0\0\0"


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("kind", list(_TIFF_TYPES))
def test_an_orientation_of_any_integer_type_is_read(order: str, kind: int) -> None:
    exif_block = b"Exif\0\0" + tiff_with_orientation(order, kind, 6)
    jpeg = make_image("JPEG", (40, 30))
    data = jpeg[:2] + segment(0xE1, exif_block) + jpeg[2:]
    assert inspect(data).orientation == 6
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] == 6  # as Pillow reads it
