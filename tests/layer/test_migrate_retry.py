"""`python -m imageapi.store.migrate --wait`, as compose's `migrate` service runs it, against the real
PostgreSQL: it waits for a server that is not listening yet, gives up after the time allowed
with one clear line, and does not wait on what the server itself refuses."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from imageapi.store.migrate import pending_files
from tests.support.late_port import Address, late_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(services: dict[str, str]) -> Iterator[str]:
    """A database with no tables, on the test server; dropped afterwards."""
    name = f"imageapi_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(services["DATABASE_URL"], dbname=name)
    finally:
        with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_migrate(database_url: str, *, wait: float) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT / "layers" / "common")}
    command = [sys.executable, "-m", "imageapi.store.migrate", "--wait", str(wait)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def server_address(database_url: str) -> Address:
    params = conninfo_to_dict(database_url)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def via(database_url: str, port: int) -> str:
    return make_conninfo(database_url, host="127.0.0.1", port=str(port))


def test_migrate_waits_for_a_server_that_starts_listening_late(empty_database: str) -> None:
    with late_port(server_address(empty_database)) as late:
        process = start_migrate(via(empty_database, late.port), wait=120)
        assert process.stderr is not None
        first = process.stderr.readline()  # written once the first attempt has been refused
        assert "PostgreSQL is not accepting connections yet" in first, first
        assert "Connection refused" in first and "retrying for" in first

        late.open()
        out, err = process.communicate(timeout=120)

    assert process.returncode == 0, err
    applied = [path.stem for path in pending_files()]
    assert out.strip() == f"applied: {', '.join(applied)}"
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [row[0] for row in rows] == applied


def test_migrate_gives_up_after_the_time_allowed_with_a_clear_message(empty_database: str) -> None:
    with late_port(server_address(empty_database)) as never_opened:
        process = start_migrate(via(empty_database, never_opened.port), wait=1)
        out, err = process.communicate(timeout=120)

    assert process.returncode == 1
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("migrate: PostgreSQL did not accept a connection within 1 s: connection failed")
    assert "Connection refused" in last
    assert "Traceback" not in err
    with psycopg.connect(empty_database) as conn:  # nothing was half-done
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)


def test_what_the_server_refuses_is_not_waited_for(empty_database: str) -> None:
    missing = make_conninfo(empty_database, dbname=f"missing_{uuid.uuid4().hex[:8]}")
    process = start_migrate(missing, wait=120)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 1
    assert out == ""
    assert "not accepting connections yet" not in err  # no retry
    assert err.startswith("migrate: connection failed") and "does not exist" in err
    assert "Traceback" not in err
