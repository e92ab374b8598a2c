"""The real services every measurement runs against, all on loopback: an embedded PostgreSQL
(local.services.embedded_postgres, a Unix socket in a temporary directory) and an S3 server in
a subprocess (bench.s3server: moto's, or rclone's with --s3 rclone). Also: child processes of
the bench, and pointing the in-process layer at a database."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg.conninfo import make_conninfo

from local.routes import LAYER_DIR, ROOT
from local.services import embedded_postgres, ensure_bucket, s3_client, s3_environment
from tests.support.layer import reset_layer_caches

BUCKET = "bench-images"


@dataclass(frozen=True)
class Services:
    server_url: str  # the PostgreSQL server's maintenance database
    database_url: str  # the database the layer uses
    s3_endpoint: str
    env: dict[str, str]  # the layer's settings, also given to the dev server subprocess
    workdir: Path
    postgres_version: str

    def s3(self) -> Any:
        return s3_client(
            self.s3_endpoint,
            aws_access_key_id=self.env["S3_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["S3_SECRET_ACCESS_KEY"],
        )

    def create_database(self, name: str) -> str:
        return create_database(self.server_url, name)


def create_database(server_url: str, name: str) -> str:
    """A new, migrated database on the server; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server_url, dbname=name)
    from imageapi.store.migrate import apply_migrations

    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn)
    return url


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a bench subprocess: ours, the layer on PYTHONPATH, and extra."""
    return {**os.environ, "PYTHONPATH": f"{LAYER_DIR}{os.pathsep}{ROOT}", **(extra or {})}


@contextmanager
def child(
    module: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m module args` with a pipe as stdin; yields it and the first line it prints.
    Closing stdin asks it to stop; it is terminated (by its pid) if it does not."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env or child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"{module} exited before it was ready (status {proc.wait(timeout=10)})")
        yield proc, line
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    stdin: IO[Any] | None = proc.stdin
    if stdin is not None and not stdin.closed:
        with suppress(BrokenPipeError):
            stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def use_database(url: str) -> None:
    """Points the in-process layer (settings, connection) at the database url."""
    os.environ["DATABASE_URL"] = url
    reset_layer_caches()


@contextmanager
def started(s3_store: str = "moto") -> Iterator[Services]:
    """PostgreSQL and S3 (moto or rclone) for the whole run; the layer in this process is
    pointed at them."""
    workdir = Path(tempfile.mkdtemp(prefix="imageapi-bench-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        server_url = stack.enter_context(embedded_postgres(workdir / "postgres", keep=False))
        _, served = stack.enter_context(child("bench.s3server", s3_store))
        endpoint, access_key, secret_key = served.split()
        env = {
            **s3_environment(endpoint, access_key=access_key, secret_key=secret_key),
            "S3_BUCKET": BUCKET,
            "CURSOR_SECRET": secrets.token_urlsafe(32),
            "LOG_LEVEL": "WARNING",
            "DATABASE_POOL_SIZE": "0",
        }
        with psycopg.connect(server_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        env["DATABASE_URL"] = database_url = create_database(server_url, "bench")
        os.environ.update(env)
        use_database(database_url)
        ensure_bucket(
            s3_client(endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key), BUCKET
        )
        stack.callback(reset_layer_caches)
        yield Services(
            server_url=server_url,
            database_url=database_url,
            s3_endpoint=endpoint,
            env=env,
            workdir=workdir,
            postgres_version=str(row[0]) if row else "?",
        )
