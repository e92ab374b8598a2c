"""Session fixtures: a real PostgreSQL and a real S3 HTTP endpoint (rclone over a temporary
directory, as under `make dev`), started here unless
TEST_DATABASE_URL / TEST_S3_ENDPOINT_URL point at external ones; each test starts empty."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from local.services import embedded_postgres, ensure_bucket, rclone_s3, s3_client, s3_environment
from tests.support.layer import reset_layer_caches
from tests.support.targets import EventTarget, HttpTarget, Target

pytest_plugins = ["tests.support.gateway"]  # the gateway_server fixture


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    """Points the layer's settings at a fresh database and bucket for this session."""
    with ExitStack() as stack:
        server_url = os.environ.get("TEST_DATABASE_URL") or stack.enter_context(
            embedded_postgres(Path(tempfile.mkdtemp(prefix="imageapi-pg-")) / "data", keep=False)
        )
        database_url = stack.enter_context(_fresh_database(server_url))
        if os.environ.get("TEST_S3_ENDPOINT_URL"):
            s3_env = s3_environment(os.environ["TEST_S3_ENDPOINT_URL"])
        else:  # the store `make dev` uses: files on disk behind `rclone serve s3`
            s3_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imageapi-s3-")))
            s3_env = stack.enter_context(rclone_s3(s3_dir)).environment()
        env = {
            **s3_env,
            "DATABASE_URL": database_url,
            "S3_BUCKET": f"imageapi-test-{uuid.uuid4().hex[:12]}",
            "MAX_UPLOAD_BYTES": str(5 * 1024 * 1024),
            "LOG_LEVEL": "WARNING",
        }
        for name in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "REGION"):
            if os.environ.get(f"TEST_S3_{name}"):
                env[f"S3_{name}"] = os.environ[f"TEST_S3_{name}"]
        previous = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        reset_layer_caches()
        from imageapi.store.migrate import migrate

        migrate()
        if os.environ.get("TEST_THROUGH_PGBOUNCER"):  # the layer behind a transaction-pooling proxy
            from tests.support.pgbouncer import pgbouncer

            proxied = conninfo_to_dict(stack.enter_context(pgbouncer(database_url)))
            env["DATABASE_PROXY_ENDPOINT"] = f"{proxied['host']}:{proxied['port']}"
            os.environ["DATABASE_PROXY_ENDPOINT"] = env["DATABASE_PROXY_ENDPOINT"]
            previous.setdefault("DATABASE_PROXY_ENDPOINT", None)
            reset_layer_caches()
        client = _s3(env)
        ensure_bucket(client, env["S3_BUCKET"])
        try:
            yield env
        finally:
            _empty_bucket(client, env["S3_BUCKET"])
            _delete_bucket(client, env["S3_BUCKET"])
            from imageapi.store.db import get_database

            get_database().close()
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server, dropped afterwards, so runs never see each other's rows."""
    name = f"imageapi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _s3(env: dict[str, str]) -> Any:
    return s3_client(
        env["S3_ENDPOINT_URL"],
        region_name=env["S3_REGION"],
        aws_access_key_id=env["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["S3_SECRET_ACCESS_KEY"],
    )


def _empty_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    for upload in _multipart_uploads(client, bucket):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def _delete_bucket(client: Any, bucket: str) -> None:
    try:
        client.delete_bucket(Bucket=bucket)
    except client.exceptions.ClientError as exc:
        # rclone keeps the empty folders its objects lived in, and calls that "not empty"; its
        # temporary directory goes anyway. Any other refusal, or a real object left, is an error.
        listed = client.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        if exc.response.get("Error", {}).get("Code") != "BucketNotEmpty" or listed:
            raise


def _multipart_uploads(client: Any, bucket: str) -> list[dict[str, Any]]:
    try:
        return list(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
    except client.exceptions.NoSuchUpload:  # rclone's answer when there are none
        return []


class Stores:
    """What is really stored: rows in PostgreSQL and objects in the bucket."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.bucket = env["S3_BUCKET"]
        self.s3 = _s3(env)

    def rows(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            cur = conn.execute("SELECT * FROM images ORDER BY created_at")
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur]

    def upload_sessions(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            cur = conn.execute("SELECT * FROM upload_sessions ORDER BY created_at")
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur]

    def object_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def unfinished_uploads(self) -> list[str]:
        return [u["Key"] for u in _multipart_uploads(self.s3, self.bucket)]

    def assert_empty(self) -> None:
        assert self.rows() == []
        assert self.object_keys() == []
        assert self.unfinished_uploads() == []

    def clear(self) -> None:
        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("TRUNCATE images CASCADE")
            conn.execute("TRUNCATE upload_sessions")
            conn.execute("TRUNCATE idempotency_keys")
        _empty_bucket(self.s3, self.bucket)


@pytest.fixture
def stores(services: dict[str, str]) -> Iterator[Stores]:
    """Empties the table and the bucket before the test; yields a view of both."""
    found = Stores(services)
    found.clear()
    yield found


@pytest.fixture(scope="session")
def dev_server(services: dict[str, str]) -> Iterator[str]:
    """The dev server's app under uvicorn on a free loopback port; yields its base URL."""
    from local.devserver import DevServer
    from tests.support.servers import serve

    with serve(DevServer()) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["devserver", "events", "gateway"])
def target(request: pytest.FixtureRequest, services: dict[str, str]) -> Target:
    """Each HTTP-level test runs once per way of reaching the API."""
    if request.param == "devserver":
        return HttpTarget("devserver", request.getfixturevalue("dev_server"))
    if request.param == "gateway":
        return HttpTarget("gateway", request.getfixturevalue("gateway_server"))
    return EventTarget()
