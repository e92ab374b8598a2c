"""Real images made with Pillow, and the broken or hostile files the API must refuse."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def make_image(fmt: str = "PNG", size: tuple[int, int] = (32, 24), *, noise: bool = False) -> bytes:
    """An image file in fmt (PNG, JPEG, GIF, WEBP); noise=True makes it barely compressible."""
    if noise:
        import os

        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 80, 40))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, *, pixel_data: bytes = zlib.compress(b"\0")) -> bytes:
    """A PNG whose header declares width x height and whose one IDAT holds pixel_data: with the
    default, tiny data (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", pixel_data)
        + png_chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
TEXT = b"just some text, not an image\n"


def webp_nesting_frames(depth: int) -> bytes:
    """An animated WebP whose one frame (ANMF) holds a frame, and so on depth times: frames do not
    nest in any real file, and a walker recursing per level runs out of stack."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)

    frame = chunk(b"VP8L", b"\x2f" + b"\0" * 20)
    for _ in range(depth):
        frame = chunk(b"ANMF", b"\0" * 16 + frame)
    canvas = chunk(b"VP8X", b"\x02\0\0\0" + (99).to_bytes(3, "little") * 2)
    body = b"WEBP" + canvas + chunk(b"ANIM", b"\0" * 6) + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body
