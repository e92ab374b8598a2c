"""The pending-session limit in the database itself: exact under concurrent creates of one
owner, and counted through migration 0009's index."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from imageapi.core.schemas import UploadSessionRow
from imageapi.store import repository
from imageapi.store.repository import PendingLimitReached
from tests.conftest import Stores


def session_of(owner: str) -> UploadSessionRow:
    upload_id = uuid.uuid4()
    now = datetime.now(UTC)
    return UploadSessionRow(
        id=upload_id,
        image_id=uuid.uuid4(),
        incoming_key=f"incoming/{upload_id}",
        description="d",
        filename="a.png",
        size_bytes=1,
        sha256=None,
        created_at=now,
        expires_at=now + timedelta(hours=1),
        completed_at=None,
        owner_key=owner,
    )


def test_concurrent_creates_at_the_limit_do_not_pass_it(stores: Stores) -> None:
    """Twelve creates of one owner at once, on twelve connections, with room for five: five
    pass. Without the per-owner lock, creates counting before any of them committed all pass."""
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def create() -> None:
        with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
            start.wait()
            try:
                repository.insert_upload_session(conn, session=session_of("address:192.0.2.1"), max_pending=5)
                outcomes.append("created")
            except PendingLimitReached:
                outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 5 + ["refused"] * 7
    assert len(stores.upload_sessions()) == 5


def test_a_retry_of_a_created_session_is_not_counted_again(stores: Stores) -> None:
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        session = session_of("address:192.0.2.1")
        first = repository.insert_upload_session(conn, session=session, max_pending=1)
        again = repository.insert_upload_session(conn, session=session, max_pending=1)  # a lost reply
        assert again.id == first.id
        with pytest.raises(PendingLimitReached):
            repository.insert_upload_session(conn, session=session_of("address:192.0.2.1"), max_pending=1)


def test_the_count_reads_the_owner_index_not_the_table(stores: Stores) -> None:
    """With thousands of completed sessions and other owners' pending ones, the count's plan
    walks the partial index of one owner's pending sessions."""
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO upload_sessions (id, image_id, incoming_key, description, filename, size_bytes,"
            " expires_at, state, completed_at, owner_key)"
            " SELECT gen_random_uuid(), gen_random_uuid(), 'incoming/' || n, 'd', 'a.png', 1,"
            "  clock_timestamp() + interval '1 hour', CASE WHEN n % 10 = 0 THEN 'open' ELSE 'completed' END,"
            "  CASE WHEN n % 10 = 0 THEN NULL ELSE clock_timestamp() END, 'address:10.0.' || (n % 250)"
            " FROM generate_series(1, 20000) AS n"
        )
        conn.execute("ANALYZE upload_sessions")
        plan = _plan(conn, repository.PENDING_SQL, ("address:10.0.7", 100))
        assert "upload_sessions_pending_owner_idx" in json.dumps(plan)
        assert "Seq Scan" not in json.dumps(plan)


def _plan(conn: psycopg.Connection[Any], query: str, params: tuple[object, ...]) -> Any:
    row = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
    assert row is not None
    return row[0]
