"""The real-world corpus through ImageInspector: each file's type, size and orientation are what
Pillow reports, whatever follows the image's end, and a file cut short is truncated."""

from __future__ import annotations

import pytest

from imageapi.core.errors import ApiError, Unprocessable, UnsupportedMediaType
from imageapi.formats.imaging import ImageInfo
from imageapi.formats.inspection import ImageInspector
from tests.support.corpus import FILES, JPEG_VARIANTS, MANIFEST, VARIANTS, expected, read

MAX_PIXELS = 178_956_970


def inspect(data: bytes, chunk_size: int = 65536) -> ImageInfo:
    inspector = ImageInspector()
    for start in range(0, len(data), chunk_size):
        inspector.feed(data[start : start + chunk_size])
    return inspector.finish(max_pixels=MAX_PIXELS)


def test_the_corpus_is_what_its_manifest_says() -> None:
    assert len(FILES) >= 30
    assert sum(entry["bytes"] for entry in MANIFEST) < 30 * 1024 * 1024
    for entry in MANIFEST:
        assert len(read(entry["file"])) == entry["bytes"]
        assert entry["source"] and entry["version"] and entry["path"] and entry["licence"]
    formats = {entry["format"] for entry in MANIFEST}
    assert formats == {"JPEG", "PNG", "GIF", "WebP", "AVIF", "HEIC"}


@pytest.mark.parametrize("chunk_size", [65536, 4093])
@pytest.mark.parametrize("name", FILES)
def test_each_file_is_what_pillow_says(name: str, chunk_size: int) -> None:
    data = read(name)
    info = inspect(data, chunk_size)
    assert expected(data).matches(info.content_type, info.width, info.height, info.orientation), info


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", FILES)
def test_data_after_the_end_is_accepted(name: str, variant: str) -> None:
    data = read(name)
    assert inspect(VARIANTS[variant](data)) == inspect(data)


JPEGS = [entry["file"] for entry in MANIFEST if entry["format"] == "JPEG"]


@pytest.mark.parametrize("variant", list(JPEG_VARIANTS))
@pytest.mark.parametrize("name", JPEGS)
def test_phone_trailers_after_a_jpeg_are_accepted(name: str, variant: str) -> None:
    data = read(name)
    assert inspect(JPEG_VARIANTS[variant](data)) == inspect(data)


@pytest.mark.parametrize("name", FILES)
def test_a_file_cut_short_is_truncated(name: str) -> None:
    data = read(name)
    for end in (len(data) // 2, len(data) - 1):
        # The last byte of a JPEG is its EOI's: without it the scan data stops with nothing after.
        with pytest.raises(Unprocessable, match="truncated"):
            inspect(data[:end])


def test_a_trailer_holding_script_is_refused() -> None:
    data = read("exiv2-exiv2-nikon-d70.jpg")
    for trailer in (b"<script>alert(1)</script>", b"SEFH" + b"<svg onload=alert(1)>" + b"SEFT"):
        with pytest.raises(UnsupportedMediaType, match="polyglot"):
            inspect(data + trailer)


def test_real_metadata_blocks_are_not_markup_but_html_in_them_is() -> None:
    # Photoshop's APP13 holding Apple print settings: an XML prolog, a plist DOCTYPE, <dict>...
    cmyk = read("pillow-pil_sample_cmyk.jpg")
    assert b"<!DOCTYPE plist" in cmyk and inspect(cmyk).width == 100
    with pytest.raises(UnsupportedMediaType):
        inspect(cmyk.replace(b"<!DOCTYPE plist", b"<!DOCTYPE html "))
    # XMP (x:xmpmeta, rdf:) from a camera, and an SVG namespace slipped into it.
    xmp = read("pillow-xmp_test.jpg")
    assert b"<x:xmpmeta" in xmp and inspect(xmp).width == 2000
    with pytest.raises(UnsupportedMediaType):
        inspect(xmp.replace(b"http://ns.adobe.com/xap/1.0/mm/", b"http://www.w3.org/2000/svg/////", 1))


@pytest.mark.parametrize("name", FILES)
def test_every_file_ends_where_its_last_byte_is_or_in_a_trailer(name: str) -> None:
    """No corpus file is refused for any reason (the check every other test builds on)."""
    try:
        inspect(read(name))
    except ApiError as error:  # pragma: no cover - the message says which file and why
        pytest.fail(f"{name}: {error.status_code} {error.detail}")


def _rotated_or_mirrored(data: bytes, box: bytes) -> bytes:
    """The file with its `irot` box (9 bytes: size, type, angle) made into box."""
    at = data.index(b"\0\0\0\x09irot")
    return data[:at] + b"\0\0\0\x09" + box + data[at + 9 :]


@pytest.mark.parametrize("box", [b"irot\1", b"irot\2", b"irot\3", b"imir\0", b"imir\1"])
def test_each_heif_rotation_and_mirror_is_what_libheif_shows(box: bytes) -> None:
    """A real HEIC (300x200, with an `irot` of 0) turned or mirrored each way: the size stays as
    stored and the orientation shows the stored pixels as libheif does (pixel for pixel)."""
    data = _rotated_or_mirrored(read("exiv2-Stonehenge.heic"), box)
    info = inspect(data)
    assert (info.width, info.height) == (300, 200)
    assert info.orientation in {8, 3, 6, 4, 2}
    assert expected(data).matches(info.content_type, info.width, info.height, info.orientation), info


def test_a_gif_frame_far_outside_its_screen_is_refused() -> None:
    """Pillow's decompression_bomb_extents.gif in small: a 100x100 screen, a frame at 65535,65535."""
    data = read("pillow-test_extents.gif")
    at = data.index(b",\x32\x00\x32\x00")  # the frame at 50,50
    with pytest.raises(Unprocessable, match="more than"):
        inspect(data[: at + 1] + b"\xff\xff\xff\xff" + data[at + 5 :])
