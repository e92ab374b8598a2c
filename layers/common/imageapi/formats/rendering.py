"""Thumbnails rendered with Pillow: only the thumbnail function imports this module, and only
its artifact ships Pillow (functions/thumbnail/requirements.txt).

Decoding is guarded: the declared pixel count is checked before any pixel is decoded, and
Pillow's own bomb limit is set to the same value."""

from __future__ import annotations

import io
import warnings

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()  # HEIC; Pillow decodes AVIF itself

WEBP_QUALITY = 80
# Bumped when the output of the same input changes; part of the ETag.
RENDER_VERSION = 1
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
# Pillow resizes these only with NEAREST (palette, bilevel) or not at all: convert them first.
_RESIZED_AFTER_CONVERSION = {"P", "PA", "1", "LA", "I;16B", "I;16L", "I;16N", "F"}


class Undecodable(Exception):
    """The file cannot be made into a thumbnail; the message is safe to show."""


def render_thumbnail(data: bytes, *, size: int, max_pixels: int) -> bytes:
    """A WebP whose longest side is at most size: EXIF orientation applied, first frame only,
    CMYK and 16-bit brought to 8-bit RGB(A), JPEG decoded at reduced scale."""
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
                # In place, and resized before the mode is converted: a full-size copy of a
                # 50-megapixel WebP is 150 MB, and each avoided one is memory the function needs not.
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
