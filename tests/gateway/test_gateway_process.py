"""`make gateway` as a user runs it: `python -m local.gateway` starts its own PostgreSQL and S3
(the stack `make dev` uses), serves the API through the emulator, and SIGTERM stops it all."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from PIL import Image

from local.routes import ROOT
from tests.conftest import _free_port
from tests.http.test_upload_sessions import put
from tests.support.images import make_image
from tests.support.processes import wait_for

PHOTOS = ROOT / "tests" / "photos"


def _started_by(path: Path) -> list[psutil.Process]:
    """Processes whose command line names path (pg_ctl detaches PostgreSQL from its parent)."""
    return [p for p in psutil.process_iter(["cmdline"]) if str(path) in " ".join(p.info["cmdline"] or [])]


def _read_banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, "the gateway exited:\n" + "".join(lines)
        lines.append(line)
        if "Migrations" in line:
            return "".join(lines)
    raise AssertionError("no banner:\n" + "".join(lines))


def _large_photo() -> bytes:
    """Dune.jpg (tests/photos, a real photo) as an uncompressed PNG: 5.3 MB, above the redirect size."""
    out = io.BytesIO()
    Image.open(PHOTOS / "Dune.jpg").convert("RGB").save(out, format="PNG", compress_level=0)
    assert len(out.getvalue()) > 4_600_000, len(out.getvalue())
    return out.getvalue()


def test_make_gateway_serves_the_api_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "S3_", "LOCALSTACK", "GATEWAY_"))
    }
    port = _free_port()
    env.update(DEV_DATA_DIR=str(tmp_path / "data"), DEV_PORT=str(port), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "local.gateway"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_banner(process)
        assert "API Gateway emulator" in banner and "kept across restarts" in banner
        assert "DOWNLOAD_REDIRECT_BYTES=4600000" in banner  # template.yaml's default
        wait_for(f"http://127.0.0.1:{port}")  # the banner comes just before the port is bound
        data = make_image("JPEG", (120, 80), noise=True)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            created = client.post(
                "/api/v1/images/",
                data={"description": "Sunset in Berlin"},
                files={"file": ("sunset.jpg", data)},
            )
            assert created.status_code == 201, created.text
            assert created.headers["apigw-requestid"]
            listed = client.get("/api/v1/images/").json()
            assert [i["id"] for i in listed["items"]] == [created.json()["id"]]
            downloaded = client.get(created.json()["download_url"])
            assert hashlib.sha256(downloaded.content).digest() == hashlib.sha256(data).digest()
            # The template's environment applies (DOWNLOAD_REDIRECT_BYTES): above it, a 307
            # to the store, as deployed, where one 6 MB Lambda response could not carry the file.
            large = _large_photo()
            digest = hashlib.sha256(large).hexdigest()
            session = client.post(
                "/api/v1/uploads",
                json={
                    "filename": "dune.png",
                    "size_bytes": len(large),
                    "sha256": digest,
                    "description": "Dune",
                },
            )
            assert session.status_code == 201, session.text
            assert put(session.json(), large).status_code == 200
            completed = client.post(f"/api/v1/uploads/{session.json()['upload_id']}/complete")
            assert completed.status_code == 201, completed.text
            redirect = client.get(completed.json()["download_url"])
            assert redirect.status_code == 307, redirect.status_code
            followed = httpx.get(redirect.headers["location"], timeout=60)
            assert hashlib.sha256(followed.content).hexdigest() == digest
            assert client.get("/docs").status_code == 404  # an HTTP API serves its routes only
        assert _started_by(tmp_path), "the embedded PostgreSQL should be running"
    finally:
        process.terminate()
        exit_code = process.wait(timeout=30)
        assert process.stdout is not None
        output = process.stdout.read()
        process.stdout.close()
    assert exit_code == 0, output
    access = [json.loads(line) for line in output.splitlines() if line.startswith('{"requestId"')]
    requests = [(a["httpMethod"], a["status"]) for a in access]
    sessions = [("POST", 201), ("POST", 201), ("GET", 307)]
    assert requests == [("POST", 201), ("GET", 200), ("GET", 200), *sessions, ("GET", 404)]
    deadline = time.monotonic() + 10  # PostgreSQL may take a moment to go after its owner
    while _started_by(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _started_by(tmp_path) == []
