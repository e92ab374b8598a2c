"""The database module against a real server: reuse, reconnection, pool, migrations."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from imageapi.core.errors import DatabaseUnavailable
from imageapi.core.settings import Settings, get_settings
from imageapi.store.db import Database, _Pool, _SingleConnection, get_database, resolve_conninfo
from imageapi.store.migrate import apply_migrations, pending_files
from tests.support.layer import layer_env


def backend_pid(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]


def terminate(pid: int) -> None:
    with psycopg.connect(resolve_conninfo(get_settings()), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize("source", ["single", "pool"])
def test_a_killed_connection_is_replaced_transparently(services: dict[str, str], source: str) -> None:
    conninfo = resolve_conninfo(get_settings())
    db = Database(_SingleConnection(conninfo) if source == "single" else _Pool(conninfo, 1, {}))
    try:
        first = db.run(backend_pid)
        assert db.run(backend_pid) == first  # reused, not reopened
        terminate(first)
        second = db.run(backend_pid)  # the next call just works
        assert second != first
    finally:
        db.close()


def test_an_unreachable_database_is_a_clear_503() -> None:
    db = Database(_SingleConnection("host=127.0.0.1 port=1 dbname=x connect_timeout=1"))
    with pytest.raises(DatabaseUnavailable) as raised:
        db.run(backend_pid)
    assert raised.value.status_code == 503
    assert raised.value.headers == {"Retry-After": "5"}


def test_migrations_apply_once(services: dict[str, str]) -> None:
    with psycopg.connect(resolve_conninfo(get_settings()), autocommit=True) as conn:
        assert apply_migrations(conn) == []  # the session already applied them
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [p.stem for p in pending_files()]


def test_migrations_run_on_an_empty_database(services: dict[str, str]) -> None:
    name = f"imageapi_migrate_check_{uuid.uuid4().hex[:8]}"  # CI jobs may share one server
    admin_url = resolve_conninfo(get_settings())
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
        with psycopg.connect(url, autocommit=True) as conn:
            assert apply_migrations(conn) == [p.stem for p in pending_files()]
            assert conn.execute("SELECT count(*) FROM images").fetchone() == (0,)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_every_connection_carries_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/x?options=-c%20search_path%3Dapp")
    params = psycopg.conninfo.conninfo_to_dict(resolve_conninfo(Settings()))
    assert params["keepalives"] == "1" and params["tcp_user_timeout"] == "5000"
    assert params["options"] == (  # the URL's own kept
        "-c search_path=app -c statement_timeout=5000 -c idle_session_timeout=60000"
    )
    unbounded = psycopg.conninfo.conninfo_to_dict(resolve_conninfo(Settings(), statement_timeout_ms=0))
    assert str(unbounded["options"]).startswith("-c search_path=app -c statement_timeout=0 ")  # migrations


def test_a_slow_statement_is_cancelled_and_the_connection_kept(
    services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, DATABASE_STATEMENT_TIMEOUT_MS="300"):
        db = get_database()
        pid = db.run(backend_pid)
        with pytest.raises(DatabaseUnavailable):
            db.run(lambda conn: conn.execute("SELECT pg_sleep(30)"))
        assert db.run(backend_pid) == pid  # PostgreSQL cancelled it: nothing to reconnect


def test_behind_a_proxy_nothing_is_sent_that_transaction_pooling_refuses() -> None:
    from psycopg.conninfo import conninfo_to_dict

    from imageapi.store.db import connect_kwargs

    settings = Settings.model_validate(
        {
            "database_url": "postgresql://app:pw@db.internal:5432/images?options=-csearch_path%3Dx",
            "database_proxy_endpoint": "proxy.internal:6432",
        }
    )
    proxied = conninfo_to_dict(resolve_conninfo(settings))
    assert (proxied["host"], proxied["port"], proxied["dbname"]) == ("proxy.internal", "6432", "images")
    assert "options" not in proxied  # RDS Proxy and pgbouncer refuse startup options
    assert connect_kwargs(settings) == {"prepare_threshold": None}  # nothing prepared, nothing pinned
    direct = conninfo_to_dict(resolve_conninfo(settings, via_proxy=False))  # migrations
    assert direct["host"] == "db.internal" and "statement_timeout" in str(direct["options"])
    assert connect_kwargs(Settings.model_validate({"database_url": "postgresql://db/x"})) == {}


def test_migrate_makes_the_statement_limit_the_roles_default(services: dict[str, str]) -> None:
    """What a client behind a proxy cannot send, every server connection gets anyway."""
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:  # no options sent
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)


def test_an_idle_connection_is_replaced_before_the_server_closes_it(services: dict[str, str]) -> None:
    source = _SingleConnection(resolve_conninfo(get_settings()), idle_seconds=0.05)
    db = Database(source)
    try:
        first = db.run(backend_pid)
        assert db.run(backend_pid) == first  # in use: kept
        import time

        time.sleep(0.1)  # idle past idle_seconds
        assert db.run(backend_pid) != first  # a new one, without a failed query first
    finally:
        db.close()
