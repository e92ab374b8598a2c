"""`make dev`'s entry point as a user runs it: its own PostgreSQL and S3, curl-style requests,
SIGTERM stops everything it started, images survive a restart, and a second local process over
the same data directory refuses to start without disturbing the first."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import _free_port
from tests.support.images import make_image
from tests.support.processes import dev_server_process


def _own_stack(data_dir: Path) -> dict[str, str]:
    """The environment of `make dev` with nothing configured: it starts its own services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "S3_", "LOCALSTACK"))}
    return {**env, "DEV_DATA_DIR": str(data_dir)}


def test_dev_server_round_trips_and_stops_cleanly(tmp_path: Path) -> None:
    env = _own_stack(tmp_path / "data")
    with dev_server_process(env, port=_free_port()) as (base, banner, process):
        assert banner.count("kept across restarts") == 2  # PostgreSQL and S3
        assert "0 image rows, 0 objects" in banner
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
                "/api/v1/uploads",
                "/api/v1/uploads/{upload_id}/complete",
                "/api/v1/images/{image_id}/thumbnail",
            }
            assert "<title>Image gallery</title>" in client.get("/").text
            # the upload session flow as docs/large-files.md shows it, against make dev's own S3
            request = {"description": "Large", "filename": "large.jpg", "size_bytes": len(data)}
            session = client.post("/api/v1/uploads", json=request).json()
            put = httpx.put(session["upload"]["url"], headers=session["upload"]["headers"], content=data)
            assert put.status_code == 200
            completed = client.post(session["complete_url"])
            assert completed.status_code == 201
            assert completed.json()["sha256"] == hashlib.sha256(data).hexdigest()
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


def test_images_survive_a_restart_of_the_whole_dev_server(tmp_path: Path) -> None:
    env, port = _own_stack(tmp_path / "data"), _free_port()
    data = make_image("JPEG", (160, 120), noise=True)
    with (
        dev_server_process(env, port=port) as (base, _, _),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        created = client.post(
            "/api/v1/images/", data={"description": "kept"}, files={"file": ("k.jpg", data)}
        )
        assert created.status_code == 201
        listed = client.get("/api/v1/images/").json()
    # the whole process stopped (SIGTERM, exit 0): its PostgreSQL and rclone with it
    with (
        dev_server_process(env, port=port) as (base, banner, _),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert "1 image rows, 1 objects; every row has its file" in banner
        assert client.get("/api/v1/images/").json() == listed
        downloaded = client.get(created.json()["download_url"])
        assert downloaded.status_code == 200 and downloaded.content == data
    [stored] = (tmp_path / "data" / "s3" / "images" / "images").iterdir()  # a plain file on disk
    assert stored.read_bytes() == data


def test_a_second_local_process_over_the_same_data_refuses_and_leaves_the_first_alone(tmp_path: Path) -> None:
    env = _own_stack(tmp_path / "data")
    with (
        dev_server_process(env, port=_free_port()) as (base, _, _),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for module in ("local.gateway", "local.devserver"):  # `make gateway`, a second `make dev`
            second = subprocess.run(
                [sys.executable, "-m", module],
                cwd=Path(__file__).resolve().parents[2],
                env={**env, "DEV_PORT": str(_free_port())},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 1
            assert f"{tmp_path / 'data'} is in use by pid" in second.stderr
            assert "DEV_DATA_DIR" in second.stderr
        # the first one's PostgreSQL and S3 still serve, with its data
        data = make_image("PNG")
        created = client.post(
            "/api/v1/images/", data={"description": "still"}, files={"file": ("s.png", data)}
        )
        assert created.status_code == 201
        assert client.get(created.json()["download_url"]).content == data
        assert (tmp_path / "data" / "postgres" / ".handle_pids.json").exists()  # not taken over
