"""Type sniffing and header-only dimensions, on real images made by Pillow."""

from __future__ import annotations

import pytest

from imageapi.core.errors import Unprocessable, UnsupportedMediaType
from imageapi.formats.inspection import ImageInspector
from tests.support.images import make_image, png_declaring


def check(data: bytes, max_pixels: int = 10**8) -> tuple[str, int | None, int | None]:
    inspector = ImageInspector()
    inspector.feed(data)
    info = inspector.finish(max_pixels=max_pixels)
    return info.content_type, info.width, info.height


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
@pytest.mark.parametrize("size", [(1, 1), (317, 211), (4000, 3)])
def test_real_images_give_type_and_size(fmt: str, content_type: str, size: tuple[int, int]) -> None:
    assert check(make_image(fmt, size)) == (content_type, *size)


def test_lossless_and_extended_webp() -> None:
    from io import BytesIO

    from PIL import Image

    for options in ({"lossless": True}, {"exif": b"Exif\0\0" + b"\0" * 20}):
        out = BytesIO()
        Image.new("RGBA", (33, 17)).save(out, format="WEBP", **options)
        assert check(out.getvalue()) == ("image/webp", 33, 17)


def test_pixel_limit_guards_declared_dimensions() -> None:
    with pytest.raises(Unprocessable, match="more than 100 pixels"):
        check(png_declaring(11, 10), max_pixels=100)
    assert check(png_declaring(10, 10), max_pixels=100)[1:] == (10, 10)


def test_unknown_bytes_are_415() -> None:
    with pytest.raises(UnsupportedMediaType):
        check(b"BM" + b"\0" * 100)  # BMP is not accepted
