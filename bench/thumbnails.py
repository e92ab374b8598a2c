"""6. Thumbnails: the thumbnail function's latency on the first request (fetch the original,
decode, resize, encode WebP, store) and on later ones (served from the bucket), for a
24-megapixel JPEG and a 4096x4096 WebP, at 256 and 1024 pixels; then its init time and peak
RSS, each in a fresh process that imports the function and renders one thumbnail, which is
what the template's MemorySize and Timeout are chosen from. Last, bench/thumbnail_burst.py: six
concurrent first requests through the dev server, as peak RSS growth.

The inputs are made from the real photos of tests/photos, enlarged to those sizes (JPEG quality
90, WebP quality 90), so the bench needs nothing from outside the repository.

    python -m bench.thumbnails            this section alone (prints its table)
    python -m bench.thumbnails --quick    fewer repetitions"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

from local.routes import LAYER_DIR, ROOT, load_handler, load_routes

if str(LAYER_DIR) not in sys.path:  # `python -m bench.thumbnails` without the Makefile's PYTHONPATH
    sys.path.insert(0, str(LAYER_DIR))

from bench import thumbnail_burst
from bench.report import Results, Row, Stats, table
from bench.services import BUCKET, Services, child_env, started
from tests.support.events import load_event
from tests.support.layer import reset_layer_caches
from tests.support.multipart import upload_body
from tests.support.targets import LambdaContext

SECTION = "6 Thumbnails"
SIZES = (256, 1024)
FIRST_RUNS = 5
CACHED_RUNS = 50
PROCESS_RUNS = 3
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # the inputs go in through the upload handler, in-process
PHOTOS = ROOT / "tests" / "photos"
FUNCTION_DIR = ROOT / "functions" / "thumbnail"

# A fresh process: import the function (init), then render one thumbnail (first request).
# Peak RSS from /proc/self/status (VmHWM): getrusage's ru_maxrss would include the bench's own
# peak, which Linux carries over across fork and exec.
_CHILD = """
import json, re, sys, time
sys.path[:0] = sys.argv[1:3]
started = time.perf_counter()
import app
init = time.perf_counter() - started

def peak_mb():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024

rss_init = peak_mb()

class Context:
    function_name = "ThumbnailFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_stream_name = "bench"
    memory_limit_in_mb = 0
    def get_remaining_time_in_millis(self):
        return 30_000

event = json.loads(sys.argv[3])
started = time.perf_counter()
result = app.handler(event, Context())
first = time.perf_counter() - started
assert result["statusCode"] == 200, result
print(json.dumps({"init_ms": init * 1000, "first_ms": first * 1000, "rss_init_mb": rss_init,
                  "rss_peak_mb": peak_mb()}))
"""


@dataclass(frozen=True)
class Input:
    name: str
    data: bytes
    content_type: str


def inputs() -> list[Input]:
    """A 6000x4000 JPEG and a 4096x4096 WebP, enlarged from real photos with a sensor-like grain
    added, so that they weigh what a camera's files do (an enlarged photo alone is too smooth)."""
    return [
        Input("24 MP JPEG (6000x4000)", enlarged("Aqua.jpg", (6000, 4000), "JPEG"), "image/jpeg"),
        Input("4096x4096 WebP", enlarged("GreenMeadow.jpg", (4096, 4096), "WEBP"), "image/webp"),
    ]


# The largest image a thumbnail is made of (THUMBNAIL_MAX_PIXELS), in the format that needs the
# most memory (WebP has no reduced-scale decoding): what MemorySize is chosen from.
SIZING = ("50 MP WebP (8160x6120)", "GreenMeadow.jpg", (8160, 6120), "WEBP")


def enlarged(photo: str, size: tuple[int, int], fmt: str) -> bytes:
    from PIL import Image

    with Image.open(PHOTOS / photo) as image:
        big = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    grain = Image.effect_noise(size, 24).convert("RGB")
    out = io.BytesIO()
    Image.blend(big, grain, 0.12).save(out, format=fmt, quality=90)
    return out.getvalue()


def upload_event(item: Input) -> dict[str, Any]:
    event = copy.deepcopy(load_event("upload_image.v2"))
    body, content_type = upload_body(
        item.data, description=item.name, filename="bench", content_type=item.content_type
    )
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    event["headers"]["content-type"] = content_type
    return event


def thumbnail_event(image_id: str, size: int) -> dict[str, Any]:
    return load_event("thumbnail.v2", image_id=image_id, query={"size": str(size)})


def measure(services: Services, results: Results, quick: bool) -> None:
    previous = os.environ.get("MAX_UPLOAD_BYTES")
    os.environ["MAX_UPLOAD_BYTES"] = str(MAX_UPLOAD_BYTES)
    reset_layer_caches()
    try:
        _measure(services, results, quick)
    finally:
        if previous is None:
            os.environ.pop("MAX_UPLOAD_BYTES", None)
        else:
            os.environ["MAX_UPLOAD_BYTES"] = previous
        reset_layer_caches()


def _measure(services: Services, results: Results, quick: bool) -> None:
    routes = {route.function: route for route in load_routes()}
    upload = load_handler(routes["UploadImageFunction"])
    thumbnail = load_handler(routes["ThumbnailFunction"])
    s3 = services.s3()
    context = LambdaContext()
    first_runs, cached_runs = (2, 10) if quick else (FIRST_RUNS, CACHED_RUNS)
    inits: list[float] = []
    peaks: list[tuple[str, Stats]] = []
    for item in inputs():
        created = upload(upload_event(item), context)
        assert created["statusCode"] == 201, created.get("body")
        image_id = json.loads(created["body"])["id"]
        for size in SIZES:
            event = thumbnail_event(image_id, size)
            key = f"thumbnails/{image_id}/{size}.webp"
            first = []
            for _ in range(first_runs):
                s3.delete_object(Bucket=BUCKET, Key=key)
                first.append(_timed(thumbnail, event, context))
            cached = [_timed(thumbnail, event, context) for _ in range(cached_runs)]
            results.add(
                Row(
                    SECTION,
                    f"{item.name} ({len(item.data) / 1e6:.1f} MB), size {size}: first request",
                    "ms",
                    Stats.of(first),
                    "served from the bucket",
                    Stats.of(cached),
                )
            )
        runs = [_fresh_process(services, image_id, s3) for _ in range(2 if quick else PROCESS_RUNS)]
        inits += [r["init_ms"] for r in runs]
        peaks.append((item.name, Stats.of([r["rss_peak_mb"] for r in runs])))
        results.add(
            Row(
                SECTION,
                f"fresh process, {item.name} at 1024: first request",
                "ms",
                Stats.of([r["first_ms"] for r in runs]),
            )
        )
    name, photo, dimensions, fmt = SIZING
    sizing = Input(name, enlarged(photo, dimensions, fmt), "image/webp")
    created = upload(upload_event(sizing), context)
    assert created["statusCode"] == 201, created.get("body")
    runs = [_fresh_process(services, json.loads(created["body"])["id"], s3) for _ in range(2)]
    peaks.append((name, Stats.of([r["rss_peak_mb"] for r in runs])))
    first_ms = Stats.of([r["first_ms"] for r in runs])
    results.add(Row(SECTION, f"fresh process, {name} at 1024: first request", "ms", first_ms))
    get_image = [_init_ms(ROOT / "functions" / "get_image") for _ in range(2 if quick else PROCESS_RUNS)]
    results.add(
        Row(
            SECTION,
            "ThumbnailFunction init (import app: the layer, boto3, Pillow, pillow-heif)",
            "ms",
            Stats.of(inits),
            "GetImageFunction init",
            Stats.of(get_image),
        )
    )
    for label, peak in peaks:
        results.add(Row(SECTION, f"ThumbnailFunction peak RSS, {label} at 1024", "MB", peak))
    thumbnail_burst.measure(services, results, quick)


def _timed(handler: Any, event: dict[str, Any], context: Any) -> float:
    started = time.perf_counter_ns()
    result = handler(event, context)
    elapsed = (time.perf_counter_ns() - started) / 1e6
    if result["statusCode"] != 200:
        raise RuntimeError(f"thumbnail: {result['statusCode']} {result.get('body')}")
    return elapsed


def _init_ms(function_dir: Any) -> float:
    """Import time of a function's app in a fresh process, measured the same way."""
    code = "import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter(); import app; "
    code += "print((time.perf_counter() - t) * 1000)"
    out = subprocess.run(
        [sys.executable, "-B", "-c", code, str(function_dir), str(LAYER_DIR)],
        env=child_env({"DATABASE_URL": "postgresql:///x", "LOG_LEVEL": "WARNING"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _fresh_process(services: Services, image_id: str, s3: Any) -> dict[str, float]:
    s3.delete_object(Bucket=BUCKET, Key=f"thumbnails/{image_id}/1024.webp")
    event = json.dumps(thumbnail_event(image_id, 1024))
    env = child_env({**services.env, "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)})
    out = subprocess.run(
        [sys.executable, "-B", "-c", _CHILD, str(FUNCTION_DIR), str(LAYER_DIR), event],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"thumbnail process failed:\n{out.stderr[-3000:]}")
    report: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.thumbnails", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "There is no current event loop", DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    results = Results()
    with started() as services:
        measure(services, results, args.quick)
    print(table(results.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
