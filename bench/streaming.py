"""4. Streaming: a 200 MiB image uploaded and downloaded through the dev server (a subprocess,
so that its RSS can be sampled), against boto3's own upload_fileobj and download_fileobj to the
same S3 server; and the server's peak RSS growth over its idle RSS, repeated at 50 MiB to show
whether it grows with the file. A fresh server for each size. Then 4 and 16 concurrent 20 MiB
uploads to one server: its peak RSS growth per upload.

The file is a PNG that passes the API's checks without being decodable: a valid signature and
IHDR (10,000 x 10,000), IDAT chunks of random bytes, and IEND."""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from bench.report import Goal, Results, Row, Stats
from bench.server import Served, serving
from bench.services import BUCKET, Services
from bench.throughput import upload_one

SECTION = "4 Streaming"
MiB = 1024 * 1024
SIZES_MIB = (200, 50)
REPEATS = 3
CONCURRENT_MIB = 20
CONCURRENCY = (4, 16)  # uploads at once, to one server
SAMPLE_SECONDS = 0.005
READ_BYTES = MiB
BOUNDARY = "----imageapi-bench-boundary"

_PNG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, size: int) -> str:
    """A size-byte PNG at path that our validation accepts; returns its SHA-256."""
    head = _PNG + _chunk(b"IHDR", struct.pack(">IIBBBBB", 10_000, 10_000, 8, 2, 0, 0, 0))
    end = _chunk(b"IEND", b"")
    body = size - len(head) - len(end)
    count = -(-body // (MiB + 12))
    digest = hashlib.sha256(head)
    with path.open("wb") as f:
        f.write(head)
        for i in range(count):
            data_bytes = (body - 12 * count) - MiB * (count - 1) if i == count - 1 else MiB
            chunk = _chunk(b"IDAT", os.urandom(data_bytes))
            f.write(chunk)
            digest.update(chunk)
        f.write(end)
        digest.update(end)
    if path.stat().st_size != size:
        raise AssertionError(f"{path} is {path.stat().st_size} bytes, not {size}")
    return digest.hexdigest()


class PeakRss:
    """Samples a process's RSS in a thread while the block runs; `peak` in bytes."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakRss:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def _multipart(path: Path, *, refused: bool) -> tuple[Iterator[bytes], int]:
    """The upload form as a stream read from disk, and its length; refused=True replaces the
    file's IEND chunk with filler, so the server reads it all and then answers 422."""
    opening = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="description"\r\n\r\nA large image\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="large.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = path.stat().st_size

    def parts() -> Iterator[bytes]:
        yield opening
        sent = 0
        with path.open("rb") as f:
            while block := f.read(READ_BYTES):
                sent += len(block)
                if refused and sent == size:
                    block = block[:-12] + b"x" * 12
                yield block
        yield closing

    return parts(), len(opening) + size + len(closing)


def upload_via_server(client: httpx.Client, base_url: str, path: Path, *, refused: bool = False) -> Any:
    stream, length = _multipart(path, refused=refused)
    response = client.post(
        f"{base_url}/api/v1/images/",
        content=stream,
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": str(length)},
    )
    expected = 422 if refused else 201
    if response.status_code != expected:
        raise RuntimeError(f"upload of {path.name} answered {response.status_code}: {response.text[:500]}")
    return response.json()


def download_via_server(client: httpx.Client, base_url: str, image_id: str) -> int:
    received = 0
    with client.stream("GET", f"{base_url}/api/v1/images/{image_id}/file") as response:
        response.raise_for_status()
        for block in response.iter_raw(READ_BYTES):
            received += len(block)
    return received


def get_object_read(s3: Any, key: str) -> int:
    """One GET read to the end in chunks of the same size as the server's (storage.CHUNK_BYTES)."""
    from imageapi.store.storage import CHUNK_BYTES

    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    return sum(len(block) for block in body.iter_chunks(CHUNK_BYTES))


class _Timings:
    def __init__(self) -> None:
        self.speed: dict[str, list[float]] = defaultdict(list)  # MiB/s
        self.growth: dict[str, list[float]] = defaultdict(list)  # MiB over the idle RSS

    def time(self, name: str, size_mib: int, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = fn()
        self.speed[f"{name} {size_mib}"].append(size_mib / (time.perf_counter() - started))
        return value

    def watch(self, server: Served, idle: int, name: str, size_mib: int, fn: Callable[[], Any]) -> Any:
        with PeakRss(server.pid) as rss:
            value = self.time(name, size_mib, fn)
        self.growth[f"{name} {size_mib}"].append((rss.peak - idle) / MiB)
        return value


def _idle_rss(server: Served, client: httpx.Client) -> int:
    """The server's RSS once every route has answered once (imports done, pools open)."""
    image_id = upload_one(server.url)
    download_via_server(client, server.url, image_id)
    client.get(f"{server.url}/api/v1/images/").raise_for_status()
    time.sleep(0.5)
    return int(psutil.Process(server.pid).memory_info().rss)


def _one_size(services: Services, s3: Any, t: _Timings, size_mib: int, *, repeats: int, phases: bool) -> None:
    """Uploads, refused uploads and downloads each go to a fresh server of their own, so that none
    inherits another's memory; direct transfers take turns with them."""
    path = services.workdir / f"large-{size_mib}.png"
    sha256 = write_png(path, size_mib * MiB)
    uploaded: list[str] = []
    roles = ("upload", "download", *(("refused",) if phases else ()))
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(timeout=600))
        servers = {role: stack.enter_context(serving(services.env)) for role in roles}
        idle = {role: _idle_rss(server, client) for role, server in servers.items()}
        url = {role: server.url for role, server in servers.items()}

        def watch(role: str, fn: Callable[[], Any]) -> Any:
            return t.watch(servers[role], idle[role], role, size_mib, fn)

        for _ in range(repeats):
            image = watch("upload", partial(upload_via_server, client, url["upload"], path))
            if image["sha256"] != sha256 or image["size_bytes"] != size_mib * MiB:
                raise AssertionError("the server stored other bytes than were sent")
            uploaded.append(image["id"])
            if phases:
                watch("refused", partial(upload_via_server, client, url["refused"], path, refused=True))
            got = watch("download", partial(download_via_server, client, url["download"], image["id"]))
            if got != size_mib * MiB:
                raise AssertionError(f"downloaded {got} bytes of {size_mib * MiB}")
            key = f"bench/{uuid.uuid4()}"
            with path.open("rb") as f:
                t.time("direct upload", size_mib, partial(s3.upload_fileobj, f, BUCKET, key))
            with open(os.devnull, "wb") as sink:
                t.time("direct download", size_mib, partial(s3.download_fileobj, BUCKET, key, sink))
            t.time("direct get", size_mib, partial(get_object_read, s3, key))
            s3.delete_object(Bucket=BUCKET, Key=key)
    _forget(services, s3, uploaded)
    path.unlink()


def _concurrent(services: Services, t: _Timings, *, repeats: int) -> list[str]:
    """CONCURRENT_MIB uploads at once, CONCURRENCY at a time, each batch to a fresh server (freed
    memory stays in the allocator's arenas, so a batch would otherwise inherit the last one's);
    records the peak RSS growth per upload, next to one such upload alone."""
    path = services.workdir / f"concurrent-{CONCURRENT_MIB}.png"
    write_png(path, CONCURRENT_MIB * MiB)
    uploaded: list[str] = []
    for _ in range(repeats):
        for count in (1, *CONCURRENCY):
            with serving(services.env) as server, httpx.Client(timeout=600) as client:
                idle = _idle_rss(server, client)
                clients = [httpx.Client(timeout=600) for _ in range(count)]
                with PeakRss(server.pid) as rss, ThreadPoolExecutor(count) as pool:
                    images = list(pool.map(lambda c: upload_via_server(c, server.url, path), clients))
                for each in clients:
                    each.close()
            t.growth[f"concurrent {count}"].append((rss.peak - idle) / MiB / count)
            uploaded += [image["id"] for image in images]
    path.unlink()
    return uploaded


def measure(services: Services, results: Results, quick: bool) -> None:
    big, small = (20, 5) if quick else SIZES_MIB
    repeats = 1 if quick else REPEATS
    t = _Timings()
    s3 = services.s3()
    for size_mib in (small, big):
        _one_size(services, s3, t, size_mib, repeats=repeats, phases=size_mib == big)
    _forget(services, s3, _concurrent(services, t, repeats=1 if quick else 2))
    at_least = (Goal(0.7, at_most=False),)
    flat = (Goal(64, on_value=True, worst=True), Goal(1.5))
    # (measure, unit, its samples, baseline label, the baseline's samples, goals)
    rows: list[tuple[str, str, list[float], str, list[float], tuple[Goal, ...]]] = [
        *(
            (
                f"upload {n} MiB via dev server",
                "MiB/s",
                t.speed[f"upload {n}"],
                "boto3 upload_fileobj direct",
                t.speed[f"direct upload {n}"],
                at_least,
            )
            for n in (big, small)
        ),
        (
            f"upload {big} MiB refused at its end (422)",
            "MiB/s",
            t.speed[f"refused {big}"],
            "boto3 upload_fileobj direct",
            t.speed[f"direct upload {big}"],
            (),
        ),
        *(
            (
                f"download {n} MiB via dev server",
                "MiB/s",
                t.speed[f"download {n}"],
                "boto3 download_fileobj direct",
                t.speed[f"direct download {n}"],
                at_least,
            )
            for n in (big, small)
        ),
        (
            f"download {big} MiB via dev server",
            "MiB/s",
            t.speed[f"download {big}"],
            "boto3 get_object read direct",
            t.speed[f"direct get {big}"],
            (),
        ),
        *(
            (
                f"server peak RSS growth, {name} {big} MiB",
                "MiB",
                t.growth[f"{name} {big}"],
                f"same at {small} MiB",
                t.growth[f"{name} {small}"],
                flat,
            )
            for name in ("upload", "download")
        ),
        *(
            (
                f"server peak RSS growth per upload, {count} concurrent {CONCURRENT_MIB} MiB uploads",
                "MiB",
                t.growth[f"concurrent {count}"],
                f"one {CONCURRENT_MIB} MiB upload alone",
                t.growth["concurrent 1"],
                (Goal(16, on_value=True, worst=True),),
            )
            for count in CONCURRENCY
        ),
        (
            f"server peak RSS growth, upload {big} MiB refused at its end",
            "MiB",
            t.growth[f"refused {big}"],
            f"upload {big} MiB",
            t.growth[f"upload {big}"],
            (),
        ),
    ]
    for measure, unit, samples, baseline, baseline_samples, goals in rows:
        results.add(
            Row(SECTION, measure, unit, Stats.of(samples), baseline, Stats.of(baseline_samples), goals)
        )
    results.details["Streaming: method"] = " ".join(
        [
            f"{small} MiB then {big} MiB, {repeats} transfers of each kind per size, taking turns.",
            "Uploads, refused uploads and downloads each go to a dev server subprocess of their own",
            "(fresh for each size), so that none inherits another's memory.",
            "Upload: one multipart POST read from disk by httpx with a Content-Length; the timer stops",
            "at the 201, after the row is written. 'Refused at its end': the same file with its IEND",
            "chunk replaced, so the server reads, hashes and scans it all, then answers 422 and keeps",
            "nothing: its cost is the receiving side of an upload. Download: GET .../file read to the",
            "end. Direct: boto3",
            "`upload_fileobj` and `download_fileobj` with their default TransferConfig, and one",
            "`get_object` read in `storage.CHUNK_BYTES` chunks, from this process to the same moto server.",
            "RSS growth: the server's RSS (psutil, every 5 ms) minus its RSS when idle after every route",
            "answered once. The RSS goal is on the worst transfer; flatness is the ratio of medians",
            f"{big} MiB / {small} MiB (goal ≤ 1.5). Concurrent uploads: {', '.join(map(str, CONCURRENCY))}",
            f"clients each POST the same {CONCURRENT_MIB} MiB file at once to a fresh server; the growth",
            "over its idle RSS divided by the number of uploads (goal ≤ 16 MiB on the worst run), next",
            "to one upload alone on that server. moto's server closes the connection after every",
            "response (HTTP/1.0), so each S3 request here pays a TCP connect.",
        ]
    )


def _forget(services: Services, s3: Any, image_ids: list[str]) -> None:
    """Removes the large images (rows and objects), so later sections see a small table."""
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        keys = conn.execute(
            "DELETE FROM images WHERE id = ANY(%s) RETURNING object_key", (image_ids,)
        ).fetchall()
    for (key,) in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)
