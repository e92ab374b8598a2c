"""50 concurrent uploads mixed with 500 reads against the dev server running as `make dev` runs
it (its own process, a connection pool): every acknowledged upload is there, intact, once."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Stores, _free_port
from tests.support.images import make_image
from tests.support.processes import dev_server_process

UPLOADS, READS = 50, 500


@pytest.fixture
def dev_server(services: dict[str, str], stores: Stores) -> Iterator[str]:
    """A dev server process of its own, with a pool of 10 connections as `make dev` has."""
    env = {**os.environ, **services, "DATABASE_POOL_SIZE": "10"}
    with dev_server_process(env, port=_free_port()) as (base, _, _):
        yield base


def test_concurrent_uploads_and_reads(dev_server: str, stores: Stores) -> None:
    rng = random.Random(7)
    files = [
        make_image(rng.choice(["PNG", "JPEG", "GIF", "WEBP"]), (rng.randint(8, 300), rng.randint(8, 300)))
        for _ in range(UPLOADS)
    ]
    acknowledged: dict[str, str] = {}  # id -> sha256
    lock = threading.Lock()
    statuses: list[int] = []
    client = httpx.Client(base_url=dev_server, timeout=60, limits=httpx.Limits(max_connections=32))

    def upload(data: bytes) -> None:
        response = client.post("/api/v1/images/", data={"description": "load"}, files={"file": ("f", data)})
        statuses.append(response.status_code)
        if response.status_code == 201:
            with lock:
                acknowledged[response.json()["id"]] = hashlib.sha256(data).hexdigest()

    def read(n: int) -> None:
        rng = random.Random(n)  # one per read: the threads would otherwise share one sequence
        with lock:
            known = list(acknowledged)
        if n % 3 == 0 or not known:
            response = client.get("/api/v1/images/", params={"limit": rng.randint(1, 100)})
        elif n % 3 == 1:
            response = client.get(f"/api/v1/images/{rng.choice(known)}")
        else:
            response = client.get(f"/api/v1/images/{rng.choice(known)}/file")
        statuses.append(response.status_code)

    jobs = [("upload", i) for i in range(UPLOADS)] + [("read", i) for i in range(READS)]
    rng.shuffle(jobs)
    with client, ThreadPoolExecutor(max_workers=24) as pool:
        futures = [
            pool.submit(upload, files[i]) if kind == "upload" else pool.submit(read, i) for kind, i in jobs
        ]
        for future in futures:
            future.result()  # a transport error fails here, by name, not as a count mismatch

        assert len(statuses) == UPLOADS + READS
        assert [s for s in statuses if s >= 500] == []
        assert len(acknowledged) == statuses.count(201) == UPLOADS
        for image_id, sha in acknowledged.items():
            assert client.get(f"/api/v1/images/{image_id}").json()["sha256"] == sha
            assert hashlib.sha256(client.get(f"/api/v1/images/{image_id}/file").content).hexdigest() == sha
        listed: list[str] = []
        url: str | None = "/api/v1/images/?limit=100"
        while url:
            page = client.get(url).json()
            listed += [item["id"] for item in page["items"]]
            url = page["next"]
    assert sorted(listed) == sorted(acknowledged)
    assert len(stores.rows()) == len(stores.object_keys()) == UPLOADS
