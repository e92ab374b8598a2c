"""imageapi.formats.rendering on real files: what the thumbnail function does to each kind of image."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from imageapi.formats.rendering import Undecodable, render_thumbnail
from tests.support import corpus
from tests.support.images import png_declaring
from tests.support.photos import PHOTOS, photo

LIMIT = 178_956_970
ROOT = Path(__file__).resolve().parents[2]


def rendered(data: bytes, size: int = 256, max_pixels: int = LIMIT) -> Image.Image:
    image = Image.open(
        io.BytesIO(render_thumbnail(data, size=size, max_pixels=max_pixels, max_decode_bytes=2**40))
    )
    image.load()
    assert image.format == "WEBP"
    return image


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("Aqua.jpg", (256, 160)),
        ("GreenMeadow.jpg", (256, 205)),
        ("hopper.avif", (128, 128)),  # Pillow's own AVIF decoder
        ("i_trns.png", (64, 64)),  # never enlarged
    ],
)
def test_longest_side_is_the_size_at_most(name: str, size: tuple[int, int]) -> None:
    image = rendered(photo(name))
    assert image.size == size and image.mode in ("RGB", "RGBA")


def test_heif_is_decoded_by_pillow_heif() -> None:
    image = rendered(corpus.read("pillow-hopper.heif"))
    assert image.size == (128, 128) and image.mode in ("RGB", "RGBA")


def test_exif_orientation_is_applied() -> None:
    assert rendered(corpus.read("pillow-orientation_rectangle.jpg")).size == (
        1,
        2,
    )  # stored 2x1, orientation 8
    # orientation 6: the top-left pixel of what is shown is the stored bottom-left one
    with Image.open(io.BytesIO(corpus.read("pillow-hopper_orientation_6.jpg"))) as stored:
        expected = stored.convert("RGB").getpixel((0, stored.height - 1))
    shown = rendered(corpus.read("pillow-hopper_orientation_6.jpg")).convert("RGB").getpixel((0, 0))
    assert isinstance(expected, tuple) and isinstance(shown, tuple)
    assert max(abs(a - b) for a, b in zip(expected, shown, strict=True)) < 40


def test_cmyk_becomes_rgb_with_its_colours() -> None:
    image = rendered(corpus.read("pillow-pil_sample_cmyk.jpg"))
    assert image.mode == "RGB"
    with Image.open(io.BytesIO(corpus.read("pillow-pil_sample_cmyk.jpg"))) as original:
        expected = original.convert("RGB")
    difference = sum(
        abs(a - b) for a, b in zip(expected.tobytes(), image.convert("RGB").tobytes(), strict=True)
    ) / len(expected.tobytes())
    assert difference < 12


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    # values 291-694 of 65535: dark. A plain conversion would clip every one of them to white.
    image = rendered(photo("16bit.cropped.tif"))
    brightest = max(image.convert("L").tobytes())
    assert brightest <= 3


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(corpus.read("pillow-iss634.gif"), id="iss634.gif"),
        pytest.param(photo("apng_delay.png"), id="apng_delay.png"),
    ],
)
def test_an_animation_gives_its_first_frame(data: bytes) -> None:
    image = rendered(data)
    assert getattr(image, "n_frames", 1) == 1
    with Image.open(io.BytesIO(data)) as original:
        assert getattr(original, "n_frames", 1) > 1
        first = original.convert("RGB").resize(image.size)
    difference = sum(
        abs(a - b) for a, b in zip(first.tobytes(), image.convert("RGB").tobytes(), strict=True)
    ) / len(first.tobytes())
    assert difference < 12


def test_too_many_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(Undecodable, match="more than 4000000 pixels"):  # 2560 x 1600
        render_thumbnail(photo("Aqua.jpg"), size=256, max_pixels=4_000_000, max_decode_bytes=2**40)
    # Pillow's own bomb check (twice the limit) says the same
    with pytest.raises(Undecodable, match="more than 1000 pixels"):
        render_thumbnail(photo("Aqua.jpg"), size=256, max_pixels=1000, max_decode_bytes=2**40)
    # a header declaring 100,000 x 100,000 with a few bytes of data: refused, nothing allocated
    with pytest.raises(Undecodable, match="pixels"):
        render_thumbnail(png_declaring(100_000, 100_000), size=256, max_pixels=LIMIT, max_decode_bytes=2**40)


@pytest.mark.parametrize(
    "data",
    [b"just some text\n", photo("Aqua.jpg")[:20_000], png_declaring(64, 48, pixel_data=b"not zlib")],
    ids=["text", "truncated-jpeg", "corrupt-png"],
)
def test_what_cannot_be_decoded_is_undecodable(data: bytes) -> None:
    with pytest.raises(Undecodable, match="cannot be decoded"):
        render_thumbnail(data, size=256, max_pixels=LIMIT, max_decode_bytes=2**40)


def test_above_the_memory_bound_is_refused_before_decoding() -> None:
    # Its pixel data is no deflate stream: decoding would say "cannot be decoded".
    huge = png_declaring(7000, 7000, pixel_data=b"these bytes are no deflate stream at all")
    with pytest.raises(
        Undecodable, match=r"^Decoding the image would take about 281 MiB, more than the 100 MiB"
    ):
        render_thumbnail(huge, size=256, max_pixels=LIMIT, max_decode_bytes=100 * 1024 * 1024)


def test_the_memory_of_a_jpeg_is_counted_at_its_reduced_scale() -> None:
    reserved: list[int] = []

    @contextmanager
    def reserve(amount: int) -> Iterator[None]:
        reserved.append(amount)
        yield

    # 2560 x 1600 decoded at 1/4 for 256 pixels: 640 x 400 RGB, 8 bytes a pixel while rendered.
    render_thumbnail(
        photo("Aqua.jpg"), size=256, max_pixels=LIMIT, max_decode_bytes=3_000_000, reserve=reserve
    )
    assert reserved == [640 * 400 * 8]


# The estimate against what a render really takes, in a fresh process each.
PEAK_AND_ESTIMATE = """
import io, json, re, sys
from PIL import Image
from imageapi.formats.rendering import decode_bytes, render_thumbnail
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
data = sys.stdin.buffer.read()
with Image.open(io.BytesIO(data)) as opened:
    if opened.format == "JPEG":
        opened.draft("RGB", (1024, 1024))
    estimate = decode_bytes(opened)
before = peak()
render_thumbnail(data, size=1024, max_pixels=10**9, max_decode_bytes=2**40)
print(json.dumps({"growth": peak() - before, "estimate": estimate}))
"""


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("L", "PNG"),
        ("P", "PNG"),
        ("RGB", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("RGB", "WEBP"),
        ("RGBA", "WEBP"),
        ("RGB", "JPEG"),
        ("CMYK", "JPEG"),
        ("P", "GIF"),
    ],
)
def test_the_memory_estimate_covers_what_a_render_takes(mode: str, fmt: str) -> None:
    out = io.BytesIO()
    gradient = Image.linear_gradient("L").resize((4000, 4000))
    image = gradient.convert(mode) if mode != "LA" else Image.merge("LA", (gradient, gradient))
    image.save(out, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    run = subprocess.run(
        [sys.executable, "-c", PEAK_AND_ESTIMATE],
        input=out.getvalue(),
        capture_output=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "common"), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=True,
    )
    measured = json.loads(run.stdout)
    assert 0 < measured["growth"] <= measured["estimate"], measured


# VmHWM, not getrusage's ru_maxrss: Linux carries that over from the forking process (pytest).
RSS_OF_A_RENDER = """
import re, sys
from imageapi.formats.rendering import render_thumbnail
data = sys.stdin.buffer.read()
render_thumbnail(data, size=256, max_pixels=10**9, max_decode_bytes=2**40)
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024)
"""


def test_a_large_jpeg_is_decoded_at_reduced_scale() -> None:
    """draft(): a 48-megapixel JPEG never exists at full size in memory (144 MB as RGB)."""
    out = io.BytesIO()
    with Image.open(PHOTOS / "Aqua.jpg") as image:
        image.convert("RGB").resize((8000, 6000)).save(out, format="JPEG", quality=80)
    run = subprocess.run(
        [sys.executable, "-c", RSS_OF_A_RENDER],
        input=out.getvalue(),
        capture_output=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "common"), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=True,
    )
    peak_mb = int(run.stdout.decode().strip())
    assert peak_mb < 110, f"peak RSS {peak_mb} MB: the JPEG was decoded at full size"


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("I;16", 40000, "RGB"),
        ("I", 40000, "RGB"),
        ("LA", (100, 200), "RGBA"),
        ("1", 1, "RGB"),
        ("CMYK", (0, 255, 0, 0), "RGB"),
        ("YCbCr", (100, 100, 100), "RGB"),
        ("L", 100, "RGB"),
    ],
)
def test_every_mode_is_resized_and_made_eight_bit(mode: str, value: object, expected: str) -> None:
    out = io.BytesIO()
    Image.new(mode, (600, 400), value).save(out, format="TIFF")  # type: ignore[arg-type]
    image = rendered(out.getvalue(), size=128)
    assert (image.size, image.mode) == ((128, 85), expected)
    if mode in ("I;16", "I"):
        assert image.getpixel((0, 0)) == (156, 156, 156)  # 40000 / 256, not clipped to 255


SUCCESSIVE_RENDERS_IN_THREADS = """
import io, json, re, sys, threading
from PIL import Image
from imageapi.formats.rendering import render_thumbnail
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
gradient = Image.linear_gradient("L").resize((4000, 4000))
files = []
for shift in range(4):
    out = io.BytesIO()
    shifted = gradient.point(lambda v: (v + shift) % 256)
    Image.merge("RGBA", (gradient, shifted, gradient, gradient)).save(out, "PNG")
    files.append(out.getvalue())
before = peak()
growth = []
for data in files:  # one after the other, each in a thread of its own (as a server's pool runs them)
    thread = threading.Thread(target=render_thumbnail, args=(data,), kwargs={
        "size": 1024, "max_pixels": 10**9, "max_decode_bytes": 2**40})
    thread.start()
    thread.join()
    growth.append(peak() - before)
print(json.dumps(growth))
"""


def test_successive_renders_in_threads_give_their_memory_back() -> None:
    """What one render freed is there for the next: the peak after four renders in four threads
    is about one render's (glibc kept Pillow's freed blocks per thread before)."""
    run = subprocess.run(
        [sys.executable, "-c", SUCCESSIVE_RENDERS_IN_THREADS],
        capture_output=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "common"), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=True,
    )
    first, *_, last = json.loads(run.stdout)
    assert last < first * 1.5, f"peak RSS growth after one render {first}, after four {last}"
