"""5. Pagination at scale: 1,000,000 rows (COPY) in a database of their own; the list handler's
latency for the last page (a cursor built with imageapi.http.pagination.encode_cursor and the run's
CURSOR_SECRET, pointing 20 rows before the end) against the first page, in the same run; the get
handler for one image among them; and the raw keyset queries, with their plans."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.report import Goal, Results, Row, Stats
from bench.services import Services, use_database
from bench.warm import COLUMNS, invoke, timed
from imageapi.http.pagination import encode_cursor
from imageapi.store import repository
from local.routes import load_handler, load_routes
from tests.support.events import load_event

SECTION = "5 Pagination"
ROWS = 1_000_000
PAGE = 20
WARMUP = 20
ROUNDS = 5
PER_ROUND = 100  # 500 timed calls of each target
_POSITION = "coalesce(txid, '0'::xid8)"


def seed(url: str, rows: int) -> None:
    """rows images, one second apart, in one COPY; then ANALYZE."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY images ({COLUMNS}) FROM STDIN") as copy:
            for i in range(rows):
                image_id = uuid.uuid4()
                copy.write_row(
                    (
                        image_id,
                        f"images/{image_id}",
                        f"Seeded image {i}",
                        f"seed-{i}.png",
                        "image/png",
                        1000 + i,
                        f"{i:064x}",
                        640,
                        480,
                        start + timedelta(seconds=i),
                    )
                )
        conn.execute("ANALYZE images")


def measure(services: Services, results: Results, quick: bool) -> None:
    rows = 20_000 if quick else ROWS
    url = services.create_database("bench_pages")
    seed(url, rows)
    use_database(url)
    try:
        _measure(services, results, url, rows=rows, quick=quick)
    finally:
        use_database(services.database_url)


def _measure(services: Services, results: Results, url: str, *, rows: int, quick: bool) -> None:
    routes = {r.function: r for r in load_routes()}
    handler = load_handler(routes["ListImagesFunction"])
    get_handler = load_handler(routes["GetImageFunction"])
    secret = services.env["CURSOR_SECRET"].encode()
    conn = psycopg.connect(url, autocommit=True)
    offset = rows - PAGE - 1  # the cursor row: the page after it holds the last PAGE rows
    mark = conn.execute(
        f"SELECT {_POSITION}::text::bigint, commit_seq FROM images"
        f" ORDER BY {_POSITION} DESC, commit_seq DESC OFFSET %s LIMIT 1",
        (offset,),
    ).fetchone()
    assert mark is not None
    middle = conn.execute("SELECT id FROM images OFFSET %s LIMIT 1", (rows // 2,)).fetchone()
    assert middle is not None
    get_event = load_event("get_image.v2", image_id=str(middle[0]))
    cursor = encode_cursor((mark[0], mark[1]), secret=secret)
    # The layer's own statements, so what is timed is what the handler runs.
    first_sql = repository.listing_query(limit=PAGE + 1, after=None)
    last_sql = repository.listing_query(limit=PAGE + 1, after=(mark[0], mark[1]))
    first_event = load_event("list_images.v2")
    last_event = load_event("list_images.v2", query={"cursor": cursor})
    _check(handler, first_event, more=True)
    _check(handler, last_event, more=False)
    targets = {
        "first page": invoke(handler, first_event, 200),
        "last page": invoke(handler, last_event, 200),
        "get": invoke(get_handler, get_event, 200),
        "raw first": lambda: conn.execute(*first_sql).fetchall(),
        "raw last": lambda: conn.execute(*last_sql).fetchall(),
    }
    samples = timed(
        targets,
        warmup=10 if quick else WARMUP,
        rounds=2 if quick else ROUNDS,
        per_round=50 if quick else PER_ROUND,
    )
    stats = {name: Stats.of(values, p99=True) for name, values in samples.items()}
    results.add(
        Row(
            SECTION,
            f"list handler, last page (rows {rows - PAGE + 1:,}-{rows:,} of {rows:,})",
            "ms",
            stats["last page"],
            "first page",
            stats["first page"],
            (Goal(1.5),),
        )
    )
    results.add(
        Row(
            SECTION,
            f"get handler, one image of {rows:,}",
            "ms",
            stats["get"],
            "list handler, first page",
            stats["first page"],
        )
    )
    results.add(
        Row(
            SECTION,
            "raw keyset query, last page",
            "ms",
            stats["raw last"],
            "raw first page",
            stats["raw first"],
        )
    )
    plans = {
        "First page": _plan(conn, *first_sql),
        "Last page": _plan(conn, *last_sql),
    }
    conn.close()
    body = [
        f"{rows:,} rows seeded with COPY, one second apart, then ANALYZE; each target "
        f"{len(samples['raw first'])} timed calls after a warm-up, in rounds taken in turn. The last "
        "page's cursor is built with `encode_cursor` and the run's `CURSOR_SECRET`; the handler's "
        "answer is checked (20 items, no next).",
    ]
    for title, plan in plans.items():
        body += ["", f"{title} (`EXPLAIN (ANALYZE, BUFFERS)`):", "", "```", plan, "```"]
    results.details["Pagination: method and plans"] = "\n".join(body)


def _check(handler: Any, event: dict[str, Any], *, more: bool) -> None:
    result = invoke(handler, event, 200)()
    page = json.loads(result["body"])  # type: ignore[index]
    if len(page["items"]) != PAGE or (page["next_cursor"] is not None) != more:
        raise AssertionError(f"unexpected page: {len(page['items'])} items, next {page['next_cursor']}")


def _plan(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> str:
    lines = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()
    return "\n".join(str(line[0]) for line in lines)
