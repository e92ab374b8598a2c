"""`make dev`'s entry point as a user runs it: its own PostgreSQL and S3, curl-style requests,
and SIGTERM stops everything it started."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import _free_port
from tests.support.images import make_image
from tests.support.processes import dev_server_process


def test_dev_server_round_trips_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "S3_", "LOCALSTACK"))}
    env["DEV_DATA_DIR"] = str(tmp_path / "data")
    with dev_server_process(env, port=_free_port()) as (base, banner, process):
        assert "kept across restarts" in banner and "lost when this server stops" in banner
        data = make_image("JPEG", (120, 80), noise=True)
        with httpx.Client(base_url=base, timeout=30) as client:
            created = client.post(
                "/api/v1/images/",
                data={"description": "Sunset in Berlin"},
                files={"file": ("sunset.jpg", data)},
            )
            assert created.status_code == 201
            listed = client.get("/api/v1/images/").json()
            assert [i["id"] for i in listed["items"]] == [created.json()["id"]]
            downloaded = client.get(created.json()["download_url"])
            assert hashlib.sha256(downloaded.content).digest() == hashlib.sha256(data).digest()
            assert client.get("/docs").status_code == 200
            assert set(client.get("/openapi.json").json()["paths"]) == {
                "/api/v1/images/",
                "/api/v1/images/{image_id}",
                "/api/v1/images/{image_id}/file",
                "/api/v1/images/{image_id}/thumbnail",
            }
            assert "<title>Image gallery</title>" in client.get("/").text
        children = psutil.Process(process.pid).children(recursive=True)
        # pg_ctl detaches PostgreSQL, so it is found by its data directory instead
        assert [
            p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
        ]
    deadline = time.monotonic() + 10  # PostgreSQL stops on its own schedule once told to
    while _left_running(tmp_path, children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _left_running(tmp_path, children) == []


def _left_running(data_dir: Path, children: list[psutil.Process]) -> list[psutil.Process]:
    """Processes still alive that the server started, or that use its data directory."""
    running = [
        p for p in psutil.process_iter(["cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]
    for child in children:
        try:
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                running.append(child)
        except psutil.NoSuchProcess:  # gone between the two calls
            pass
    return running
