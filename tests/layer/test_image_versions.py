"""The metadata's version (migration 0008) against a real server: the conditional UPDATE lets one of
two concurrent edits of the same version through, and the migration rewrites no table."""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from imageapi.core.schemas import ImageRow
from imageapi.core.settings import get_settings
from imageapi.store import migrate, repository
from imageapi.store.db import resolve_conninfo
from tests.conftest import Stores
from tests.support.rows import image_row


def insert(conn: psycopg.Connection[Any]) -> uuid.UUID:
    row = image_row().model_copy(update={"description": "before"})
    repository.insert_image(conn, image=row)
    return row.id


def edit(conn: psycopg.Connection[Any], image_id: uuid.UUID, text: str) -> ImageRow | None:
    return repository.update_description(
        conn, image_id=image_id, description=text, versions=[1], unmodified_since=None
    )


def waiting_on_a_lock(conn: psycopg.Connection[Any], pid: int) -> bool:
    row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == "Lock"


def test_of_two_concurrent_edits_of_one_version_the_second_finds_no_row(stores: Stores) -> None:
    """The second UPDATE waits for the first's row lock, then sees the moved version: no lost update,
    where a read-then-write would have let both through."""
    conninfo = resolve_conninfo(get_settings())
    with (
        psycopg.connect(conninfo, autocommit=True) as observer,
        psycopg.connect(conninfo) as first,
        psycopg.connect(conninfo, autocommit=True) as second,
    ):
        image_id = insert(observer)
        won = edit(first, image_id, "first")  # its transaction stays open: the row stays locked
        assert won is not None and won.version == 2
        second_pid = second.info.backend_pid
        outcome: list[ImageRow | None] = []
        racer = threading.Thread(target=lambda: outcome.append(edit(second, image_id, "second")))
        racer.start()
        while not waiting_on_a_lock(observer, second_pid):  # bounded by the statement timeout
            assert racer.is_alive(), outcome
        first.commit()
        racer.join()
        assert outcome == [None]
        row = repository.get_image(observer, image_id=image_id)
        assert row is not None and (row.description, row.version) == ("first", 2)


def test_the_migration_adds_the_columns_without_rewriting_the_table(tmp_path: Path) -> None:
    """0008 on a table holding rows: the table keeps its file (no rewrite), old rows read version
    1 and no updated_at."""
    name = f"imageapi_versions_{uuid.uuid4().hex[:8]}"
    admin_url = resolve_conninfo(get_settings())
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for path in migrate.pending_files():
        if path.name < "0008":
            shutil.copy(path, earlier / path.name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
        with psycopg.connect(url, autocommit=True) as conn, pytest.MonkeyPatch.context() as patch:
            patch.setattr(migrate, "MIGRATIONS_DIR", earlier)
            migrate.apply_migrations(conn)
            conn.execute(
                "INSERT INTO images (id, object_key, description, filename, content_type, size_bytes,"
                " sha256, width, height) SELECT gen_random_uuid(), 'images/' || i, 'd', 'f', 'image/png',"
                " 1, repeat('0', 64), 1, 1 FROM generate_series(1, 1000) AS i"
            )
            before = conn.execute("SELECT pg_relation_filenode('images')").fetchone()
            patch.undo()
            assert migrate.apply_migrations(conn)[0] == "0008_image_versions"
            assert conn.execute("SELECT pg_relation_filenode('images')").fetchone() == before
            assert conn.execute(
                "SELECT count(*), min(version), max(version), count(updated_at) FROM images"
            ).fetchone() == (1000, 1, 1, 0)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
