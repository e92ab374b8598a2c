"""`make dev`'s entry point as a user runs it: its own PostgreSQL and S3, curl-style requests,
and SIGTERM stops everything it started."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import _free_port
from tests.support.images import make_image

ROOT = Path(__file__).resolve().parents[2]


def test_dev_server_round_trips_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "S3_", "LOCALSTACK"))}
    env.update(DEV_DATA_DIR=str(tmp_path / "data"), DEV_PORT=str(port), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "local.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until(process, "Consistency")
        assert "kept across restarts" in banner and "lost when this server stops" in banner
        base = f"http://127.0.0.1:{port}"
        _wait_for(base)
        data = make_image("JPEG", (120, 80), noise=True)
        with httpx.Client(base_url=base) as client:
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
            }
        children = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
    assert exit_code == 0
    time.sleep(0.5)
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, "dev server exited:\n" + "".join(lines)
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("no banner:\n" + "".join(lines))


def _wait_for(base: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/openapi.json")
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("dev server did not answer")
