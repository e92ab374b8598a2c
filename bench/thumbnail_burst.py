"""Part of section 6: what six concurrent first requests for one thumbnail cost the dev server.

Issue 23 measured six concurrent first requests for one 95 KiB 7070x7070 PNG taking the dev
server from 729 to 3,874 MiB. Here, in a fresh dev server each run (the one `make dev` runs,
in a process of its own): the growth of its peak RSS (the kernel's VmHWM, reset through
/proc/PID/clear_refs before each burst) over its RSS at rest after one small thumbnail loaded
Pillow, for six concurrent first requests at 1024 of
- a 7070x7070 RGBA PNG (the issue's case; one render, the others wait for its object),
- six different such PNGs, one request each (renders share THUMBNAIL_MAX_DECODE_BYTES),
against the baseline of the same six requests for a real 1280x1024 photo."""

from __future__ import annotations

import io
import re
import threading
from contextlib import suppress
from pathlib import Path

import httpx

from bench.report import Goal, Results, Row, Stats
from bench.server import Served, serving
from bench.services import Services
from tests.support.multipart import upload_body

SECTION = "6 Thumbnails"
RUNS = 3
REQUESTS = 6
SIDE = 7070
GOAL_MIB = 1024  # issue 23: at most 1 GiB of growth on the dev server
MiB = 1024 * 1024
PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "photos"


def huge_png(seed: int) -> bytes:
    """7070x7070 RGBA, about 100 KiB: gradients compress to almost nothing."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
    shade = gradient.point(lambda v: (v + seed * 37) % 256)
    out = io.BytesIO()
    Image.merge("RGBA", (gradient, shade, gradient.transpose(Image.Transpose.ROTATE_90), shade)).save(
        out, format="PNG"
    )
    return out.getvalue()


def measure(services: Services, results: Results, quick: bool) -> None:
    growth: dict[str, list[float]] = {"photo": [], "one": [], "six": []}
    pngs = [huge_png(seed) for seed in range(REQUESTS)]
    photo = (PHOTOS / "GreenMeadow.jpg").read_bytes()
    for _ in range(1 if quick else RUNS):
        with serving(services.env) as server, httpx.Client(timeout=120) as client:
            warm = _upload(client, server, photo)
            _thumbnail(client, server, warm, 128)  # Pillow, pools and clients loaded
            growth["photo"].append(_burst(client, server, [_upload(client, server, photo)] * REQUESTS))
            growth["one"].append(_burst(client, server, [_upload(client, server, pngs[0])] * REQUESTS))
            growth["six"].append(_burst(client, server, [_upload(client, server, png) for png in pngs]))
    baseline = Stats.of(growth["photo"])
    name = f"{REQUESTS} concurrent first requests of a 1280x1024 JPEG"
    measures = {
        "one": f"{REQUESTS} concurrent first requests of one {SIDE}x{SIDE} PNG"
        f" ({len(pngs[0]) // 1024} KiB) at 1024",
        "six": f"{REQUESTS} different {SIDE}x{SIDE} PNGs at once at 1024",
    }
    for key, measure in measures.items():
        results.add(
            Row(
                SECTION,
                f"dev server peak RSS growth, {measure}",
                "MiB",
                Stats.of(growth[key]),
                name,
                baseline,
                goals=(Goal(GOAL_MIB, on_value=True, worst=True),),
            )
        )


def _upload(client: httpx.Client, server: Served, data: bytes) -> str:
    body, content_type = upload_body(data, filename="bench")
    response = client.post(
        f"{server.url}/api/v1/images/", content=body, headers={"content-type": content_type}
    )
    response.raise_for_status()
    return str(response.json()["id"])


def _thumbnail(client: httpx.Client, server: Served, image_id: str, size: int) -> None:
    response = client.get(f"{server.url}/api/v1/images/{image_id}/thumbnail", params={"size": size})
    if response.status_code != 200:
        raise RuntimeError(f"thumbnail: {response.status_code} {response.text[:300]}")


def _burst(client: httpx.Client, server: Served, image_ids: list[str]) -> float:
    """MiB the server's peak RSS grew over its RSS before the requests, sent all at once."""
    status = Path(f"/proc/{server.pid}/status")
    rest = _kib(status, "VmRSS")
    with suppress(OSError):  # 5: reset VmHWM to the current RSS (Linux 4.0+)
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")
    start = threading.Barrier(len(image_ids))
    failures: list[BaseException] = []

    def ask(image_id: str) -> None:
        start.wait()
        try:
            _thumbnail(client, server, image_id, 1024)
        except BaseException as exc:  # reported below, in this thread
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(image_id,)) for image_id in image_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return (_kib(status, "VmHWM") - rest) / 1024


def _kib(status: Path, field: str) -> int:
    found = re.search(rf"{field}:\s+(\d+) kB", status.read_text())
    assert found is not None, field
    return int(found.group(1))
