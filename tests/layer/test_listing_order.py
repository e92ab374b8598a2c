"""The listing never skips a committed image: walks through the pages while other connections
insert, against the real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
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


def _walk(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    """Every page from the first, following each page's cursor, as a client does."""
    seen: list[uuid.UUID] = []
    after = None
    while True:
        rows = repository.list_images(conn, limit=PAGE + 1, after=after)
        page = rows[:PAGE]
        seen.extend(row.id for row in page)
        if len(rows) <= PAGE:
            return seen
        after = page[-1].commit_seq


def _check(conn: psycopg.Connection[Any], walk: list[uuid.UUID]) -> None:
    assert len(walk) == len(set(walk)), "an image appeared twice in one walk"
    if not walk:
        return
    # The whole listing as it is now (it only grows): whatever the walk did not return must
    # come before the walk's first item, that is be newer than everything the walk saw.
    now = [row.id for row in repository.list_images(conn, limit=MAX_ROWS * 2, after=None)]
    first = now.index(walk[0])
    skipped = set(now[first:]) - set(walk)
    assert not skipped, f"{len(skipped)} committed images were skipped by a walk"


def _page(url: str, walks: list[int], errors: list[BaseException]) -> None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(WALKS_PER_PAGER):
                _check(conn, _walk(conn))
                walks.append(1)
    except BaseException as exc:
        errors.append(exc)


def test_concurrent_inserts_never_slip_behind_a_served_cursor(
    stores: Stores, services: dict[str, str]
) -> None:
    url = services["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(3 * PAGE):
            repository.insert_image(conn, image=image_row())
    stop, errors, walks = threading.Event(), [], []  # type: ignore[var-annotated]
    inserters = [threading.Thread(target=_insert_until, args=(url, stop, errors)) for _ in range(INSERTERS)]
    pagers = [threading.Thread(target=_page, args=(url, walks, errors)) for _ in range(PAGERS)]
    for thread in inserters + pagers:
        thread.start()
    for thread in pagers:
        thread.join()
    stop.set()
    for thread in inserters:
        thread.join()
    assert errors == []
    assert len(walks) == PAGERS * WALKS_PER_PAGER
    assert len(stores.rows()) > 3 * PAGE  # the inserters ran alongside
