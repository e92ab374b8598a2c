"""The listing never skips a committed image: walks through the pages while other connections
insert, against the real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from imageapi.store import repository
from tests.conftest import Stores
from tests.support.rows import image_row

INSERTERS = 4
PAGERS = 2
WALKS_PER_PAGER = 15
PAGE = 7
MAX_ROWS = 2_000  # inserters stop here, so a walk stays short whatever the machine's speed


def _insert_until(url: str, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                # An explicit transaction that commits after a pause, as a slow commit (RDS,
                # synchronous replication) would: the window a listing must not skip through.
                with conn.transaction():
                    repository.insert_image(conn, image=image_row())
                    conn.execute("SELECT pg_sleep(0.002)")
                count = conn.execute("SELECT count(*) FROM images").fetchone()
                if count is not None and count[0] >= MAX_ROWS:
                    return
    except BaseException as exc:
        errors.append(exc)


Lister = Callable[[psycopg.Connection[Any], int, Any], list[tuple[uuid.UUID, Any]]]


def _listed(conn: psycopg.Connection[Any], limit: int, after: Any) -> list[tuple[uuid.UUID, Any]]:
    """The listing as the API pages it: (id, the position a cursor carries)."""
    return [(row.id, row.position) for row in repository.list_images(conn, limit=limit, after=after)]


def _by_created_at(conn: psycopg.Connection[Any], limit: int, after: Any) -> list[tuple[uuid.UUID, Any]]:
    """The ordering before migration 0003: newest first by the time the INSERT ran."""
    if after is None:
        cur = conn.execute(
            "SELECT id, created_at FROM images ORDER BY created_at DESC, id DESC LIMIT %s", (limit,)
        )
    else:
        cur = conn.execute(
            "SELECT id, created_at FROM images WHERE (created_at, id) < (%s, %s)"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            (after[1], after[0], limit),
        )
    return [(row[0], (row[0], row[1])) for row in cur]


def _walk(conn: psycopg.Connection[Any], lister: Lister) -> list[uuid.UUID]:
    """Every page from the first, following each page's cursor, as a client does."""
    seen: list[uuid.UUID] = []
    after = None
    while True:
        rows = lister(conn, PAGE + 1, after)
        page = rows[:PAGE]
        seen.extend(image_id for image_id, _ in page)
        if len(rows) <= PAGE:
            return seen
        after = page[-1][1]


def _skipped(conn: psycopg.Connection[Any], walk: list[uuid.UUID], lister: Lister) -> int:
    assert len(walk) == len(set(walk)), "an image appeared twice in one walk"
    if not walk:
        return 0
    # The whole listing as it is now (it only grows): whatever the walk did not return must
    # come before the walk's first item, that is be newer than everything the walk saw.
    now = [image_id for image_id, _ in lister(conn, MAX_ROWS * 2, None)]
    first = now.index(walk[0])
    return len(set(now[first:]) - set(walk))


def _page(url: str, lister: Lister, skips: list[int], errors: list[BaseException]) -> None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(WALKS_PER_PAGER):
                skips.append(_skipped(conn, _walk(conn, lister), lister))
    except BaseException as exc:
        errors.append(exc)


def _race(url: str, lister: Lister) -> list[int]:
    """Pagers walking the listing while inserters commit slowly; the images each walk skipped."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(3 * PAGE):
            repository.insert_image(conn, image=image_row())
    stop, errors, skips = threading.Event(), [], []  # type: ignore[var-annotated]
    inserters = [threading.Thread(target=_insert_until, args=(url, stop, errors)) for _ in range(INSERTERS)]
    pagers = [threading.Thread(target=_page, args=(url, lister, skips, errors)) for _ in range(PAGERS)]
    for thread in inserters + pagers:
        thread.start()
    for thread in pagers:
        thread.join()
    stop.set()
    for thread in inserters:
        thread.join()
    assert errors == []
    assert len(skips) == PAGERS * WALKS_PER_PAGER
    return skips


def test_concurrent_inserts_never_slip_behind_a_served_cursor(
    stores: Stores, services: dict[str, str]
) -> None:
    skips = _race(services["DATABASE_URL"], _listed)
    assert sum(skips) == 0, f"{sum(skips)} committed images were skipped by a walk"
    assert len(stores.rows()) > 3 * PAGE  # the inserters ran alongside


def _late_commit(url: str, lister: Lister) -> int:
    """The race made certain: X's transaction starts before Y's and commits after a walk has
    gone past where X sorts. Returns how many images that walk skipped (0 or 1)."""
    with (
        psycopg.connect(url, autocommit=True) as pager,
        psycopg.connect(url) as late,
        psycopg.connect(url, autocommit=True) as other,
    ):
        repository.insert_image(other, image=image_row())  # W, the oldest
        late.execute("SELECT pg_sleep(0.01)")  # the late transaction begins: created_at now
        repository.insert_image(late, image=image_row())  # X, not committed yet
        other.execute("SELECT pg_sleep(0.01)")
        repository.insert_image(other, image=image_row())  # Y, newer, committed at once
        seen: list[uuid.UUID] = []
        after = None
        for step in range(4):  # one image a page, as slowly as a client may page
            rows = lister(pager, 1, after)
            if not rows:
                break
            seen.append(rows[0][0])
            after = rows[0][1]
            if step == 1:
                late.commit()  # X becomes visible once the walk has passed where it sorts
        late.commit()
        return _skipped(pager, seen, lister)


def test_a_late_commit_is_never_skipped(stores: Stores, services: dict[str, str]) -> None:
    assert _late_commit(services["DATABASE_URL"], _listed) == 0


def test_the_same_late_commit_is_skipped_in_the_created_at_ordering(
    stores: Stores, services: dict[str, str]
) -> None:
    """The case above is sharp enough to catch the ordering it replaced, every time."""
    assert _late_commit(services["DATABASE_URL"], _by_created_at) == 1


SHARED = 50_000  # rows sharing one position: a bulk import in one transaction


def test_a_deep_page_reads_a_few_index_pages_when_rows_share_a_position(
    stores: Stores, services: dict[str, str]
) -> None:
    """EXPLAIN's buffer count, not a time: the scan must start at the cursor, not step over
    every entry of its position first (what the descending index of migration 0007 did)."""
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO images (id, object_key, description, filename, content_type, size_bytes,"
            " sha256, width, height) SELECT id, 'images/' || id, 'bulk', 'bulk.png', 'image/png', 1,"
            " repeat('0', 64), 1, 1 FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, %s)) ids",
            (SHARED,),
        )
        conn.execute("ANALYZE images")
        page = repository.list_images(conn, limit=PAGE, after=None)
        deep: tuple[int, int] | None = None
        for _ in range(3):
            deep = (page[-1].txid, page[-1].commit_seq)
            page = repository.list_images(conn, limit=PAGE, after=deep)
        oldest = conn.execute("SELECT min(commit_seq) FROM images").fetchone()
        assert oldest is not None and deep is not None
        for after in (deep, (deep[0], oldest[0] + PAGE)):  # near the newest, and the last page
            sql, params = repository.listing_query(limit=PAGE + 1, after=after)
            [[[plan]]] = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params).fetchall()
            top = plan["Plan"]
            assert top["Actual Rows"] == PAGE + 1 if after == deep else PAGE
            assert top["Shared Hit Blocks"] + top["Shared Read Blocks"] < 50
