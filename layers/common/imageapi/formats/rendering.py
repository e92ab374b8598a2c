"""Thumbnails rendered with Pillow: only the thumbnail function imports this module, and only
its artifact ships Pillow (functions/thumbnail/requirements.txt).

Decoding is guarded: the declared pixel count, and the memory the render will take (from the mode
and size Pillow reads from the header), are checked before any pixel is decoded; Pillow's own
bomb limit is set to the pixel limit."""

from __future__ import annotations

import ctypes
import io
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()  # HEIC; Pillow decodes AVIF itself

_M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter


def _give_freed_pixels_back() -> None:
    """glibc serves an allocation under its mmap threshold from a heap, per thread in a threaded
    server, and the threshold rises to 32 MiB after the first large block is freed: Pillow's image
    blocks (16 MiB) then land in those heaps, and what a render frees stays in its thread's heap.
    Six renders one after the other in six threads left the dev server 1.5 GiB larger than one
    render (bench/thumbnail_burst.py). Fixed at 4 MiB, every block is mapped on its own and
    unmapped when freed, so the memory bound holds across threads and successive renders."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc (musl, macOS): nothing to set
    libc.mallopt(_M_MMAP_THRESHOLD, 4 * 1024 * 1024)


_give_freed_pixels_back()


WEBP_QUALITY = 80
# Bumped when the output of the same input changes; part of the ETag.
RENDER_VERSION = 1
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
# Pillow resizes these only with NEAREST (palette, bilevel) or not at all: convert them first.
_RESIZED_AFTER_CONVERSION = {"P", "PA", "1", "LA", "I;16B", "I;16L", "I;16N", "F"}

MIB = 1024 * 1024
# Peak bytes per decoded pixel while a thumbnail is made: the decoded image (Pillow keeps RGB in
# 4 bytes) and the full-size copies that conversion, premultiplied reduction and the decoder's own
# buffer add. Measured as peak RSS growth on 7070x7070 files rendered at 1024 (docs/thumbnails.md),
# rounded up. Only the first frame of an animation is decoded, so frames do not multiply it.
_DECODE_BYTES_PER_PIXEL = {"1": 7, "L": 2, "P": 7, "LA": 14, "PA": 14, "RGB": 6, "RGBA": 10}
_DECODE_BYTES_OTHER_MODES = 18  # CMYK, YCbCr, 16-bit and float: converted through larger modes
# At least this much in these formats: libjpeg's own buffers; WebP, HEIF and AVIF are decoded by
# a library into a buffer of its own, then copied into Pillow's image.
_DECODE_BYTES_OF_FORMAT = {"JPEG": 8, "WEBP": 18, "HEIF": 18, "AVIF": 18}


def decode_bytes(image: Image.Image) -> int:
    """About the most memory rendering this opened (not yet loaded) image takes: its size after
    any draft() times the bytes per pixel its mode and format need."""
    width, height = image.size
    per_pixel = max(
        _DECODE_BYTES_PER_PIXEL.get(image.mode, _DECODE_BYTES_OTHER_MODES),
        _DECODE_BYTES_OF_FORMAT.get(image.format or "", 0),
    )
    return width * height * per_pixel


class Undecodable(Exception):
    """The file cannot be made into a thumbnail; the message is safe to show."""


def render_thumbnail(
    data: bytes,
    *,
    size: int,
    max_pixels: int,
    max_decode_bytes: int,
    reserve: Callable[[int], AbstractContextManager[object]] = nullcontext,
) -> bytes:
    """A WebP whose longest side is at most size: EXIF orientation applied, first frame only,
    CMYK and 16-bit brought to 8-bit RGB(A), JPEG decoded at reduced scale.

    Refused before decoding when decode_bytes() exceeds max_decode_bytes; otherwise decoded
    inside reserve(those bytes), which may wait for memory that other renders hold."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses twice this outright
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise Undecodable(f"The image has more than {max_pixels} pixels")
                opened.seek(0)  # an animation's first frame
                if opened.format == "JPEG":
                    # Decodes at 1/2, 1/4 or 1/8 scale, never below the size asked for.
                    opened.draft("RGB", (size, size))
                needed = decode_bytes(opened)
                if needed > max_decode_bytes:
                    raise Undecodable(
                        f"Decoding the image would take about {-(-needed // MIB)} MiB, more than the"
                        f" {max_decode_bytes // MIB} MiB a thumbnail may use"
                    )
                with reserve(needed):
                    return _rendered(opened, size=size)
    except Undecodable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own check, in open(), for what declares more than the limit.
        raise Undecodable(f"The image has more than {max_pixels} pixels") from None
    except UnidentifiedImageError:
        raise Undecodable("The file cannot be decoded as an image") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError):
        # Pillow's plugins raise all of these for truncated or corrupt data.
        raise Undecodable("The file cannot be decoded as an image") from None


def _rendered(opened: Image.Image, *, size: int) -> bytes:
    # In place, and resized before the mode is converted: a full-size copy of a 50-megapixel
    # WebP is 150 MB, and each avoided one is memory the function needs not.
    opened.load()
    ImageOps.exif_transpose(opened, in_place=True)
    image: Image.Image = opened
    if image.mode in _RESIZED_AFTER_CONVERSION:
        image = _eight_bit(image)
    image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    image = _eight_bit(image)
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def _eight_bit(image: Image.Image) -> Image.Image:
    """RGB, or RGBA where the image has transparency (the image itself when it already is)."""
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in _SIXTEEN_BIT:
        # convert("L") would clip every value above 255 to white: scale instead.
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")  # CMYK, YCbCr, L, 1, an opaque P, F
