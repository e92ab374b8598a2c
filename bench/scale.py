"""8. Scale: what grows with writers and with the table.

- Inserts/s with 1, 8, 32 and 64 concurrent writers (a connection each, autocommit, the layer's
  own INSERT_IMAGE statement and row mapping) into the images table, against the same statement
  into a copy of the table without the listing's ordering (no txid, no commit_seq, no listing
  index), the two taking turns in the same run. Migration 0003's advisory lock serialised exactly
  this.
- Reconcile's two merged passes over 100,000 and 1,000,000 rows against a stand-in listing of
  the same keys (plus 0.1% orphans), in a process of its own: its peak RSS (VmHWM) and time,
  next to the same process idle. The stand-in yields keys as S3 would, a page at a time, so what
  is measured is the merge, not the network.

    python -m bench --only scale"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import psycopg
from psycopg.rows import class_row

from bench.pagination import seed
from bench.report import Goal, Results, Row, Stats
from bench.services import Services, child_env
from imageapi.core.schemas import ImageRow
from imageapi.store import repository
from local.routes import ROOT
from tests.support.rows import image_row

SECTION = "8 Scale"
WRITERS = (1, 8, 32, 64)
INSERTS = 3000  # per measurement, shared among the writers
ROUNDS = 3
RECONCILE_ROWS = (100_000, 1_000_000)

_UNORDERED = (
    "CREATE TABLE IF NOT EXISTS images_unordered"
    " (LIKE images INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
    " ALTER TABLE images_unordered ALTER COLUMN txid DROP DEFAULT,"
    " ALTER COLUMN commit_seq DROP DEFAULT, ALTER COLUMN commit_seq DROP NOT NULL;"
    " ALTER TABLE images_unordered ADD PRIMARY KEY (id)"
)
# Migration 0003's design, for comparison: every insert takes one advisory lock until it commits.
_LOCKED = (
    "CREATE TABLE IF NOT EXISTS images_locked (LIKE images INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
    " ALTER TABLE images_locked ALTER COLUMN txid DROP DEFAULT, ADD PRIMARY KEY (id);"
    " CREATE UNIQUE INDEX IF NOT EXISTS images_locked_commit_seq_idx ON images_locked (commit_seq);"
    " CREATE OR REPLACE FUNCTION images_locked_seq() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN PERFORM pg_advisory_xact_lock(1768300804); RETURN NEW; END $$;"
    " CREATE TRIGGER images_locked_seq BEFORE INSERT ON images_locked"
    " FOR EACH ROW EXECUTE FUNCTION images_locked_seq()"
)

# Reconcile alone in a process: a stand-in listing of the table's keys (sorted, as S3 lists),
# then one dry run and one applied run (whose deletions go nowhere); prints time and peak RSS.
_RECONCILE_CHILD = """
import json, sys, time, uuid
import psutil
from imageapi.store import reconcile as r
from imageapi.store.db import get_database
from imageapi.store.storage import get_storage

orphans = int(sys.argv[1])
class Listing:
    bucket = "bench"
    def objects(self, *, prefix):
        if prefix != r.PREFIX:
            return
        rows, after = get_database(), None
        extra = sorted(f"images/{uuid.uuid4()}" for _ in range(orphans))
        old = __import__("datetime").datetime(2020, 1, 1, tzinfo=__import__("datetime").UTC)
        keys = r._row_keys(rows)
        merged = __import__("heapq").merge((k for k, _ in keys), extra)
        for key in merged:
            yield key, old
    def delete_many(self, *, keys):
        return []
idle = psutil.Process().memory_info().rss
began = time.perf_counter()
report = r.reconcile(apply=True, grace=r.timedelta(0), max_share=1.0, storage=Listing())
seconds = time.perf_counter() - began
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "idle": idle, "peak": int(hwm.split()[1]) * 1024,
                  "orphans": report.objects_without_rows_count}))
"""


def measure(services: Services, results: Results, quick: bool) -> None:
    _inserts(services, results, quick)
    _reconcile(services, results, quick)


def _inserts(services: Services, results: Results, quick: bool) -> None:
    url = services.create_database("bench_scale")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_UNORDERED)
        conn.execute(_LOCKED)
    rounds = 1 if quick else ROUNDS
    for writers in WRITERS:
        ordered: list[float] = []
        unordered: list[float] = []
        locked: list[float] = []
        total = INSERTS // (3 if quick else 1)
        for _ in range(rounds):  # they take turns, so drift on the machine hits each
            ordered.append(_rate(url, writers, table="images", total=total))
            unordered.append(_rate(url, writers, table="images_unordered", total=total))
            locked.append(_rate(url, writers, table="images_locked", total=total))
        results.add(
            Row(
                SECTION,
                f"inserts/s, {writers} concurrent writer{'s' if writers > 1 else ''}",
                "/s",
                Stats.of(ordered),
                "the same INSERT without the listing's ordering",
                Stats.of(unordered),
                goals=(Goal(0.8, at_most=False),) if writers == 32 else (),
            )
        )
        results.add(
            Row(
                SECTION,
                f"inserts/s, {writers} concurrent writer{'s' if writers > 1 else ''}",
                "/s",
                Stats.of(ordered),
                "the same INSERT under migration 0003's advisory lock",
                Stats.of(locked),
            )
        )


def _rate(url: str, writers: int, *, table: str, total: int) -> float:
    """Inserts per second of `total` rows written by `writers` threads, a connection each."""
    each = max(1, total // writers)
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                rows = [image_row() for _ in range(each)]
                start.wait()
                # The layer's own statement and row mapping for every table: only the table differs.
                insert = repository.INSERT_IMAGE.replace("INTO images ", f"INTO {table} ")
                for row in rows:
                    with conn.cursor(row_factory=class_row(ImageRow)) as cur:
                        cur.execute(insert, row.model_dump())
                        assert cur.fetchone() is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return each * writers / elapsed


def _reconcile(services: Services, results: Results, quick: bool) -> None:
    for rows in (20_000,) if quick else RECONCILE_ROWS:
        url = services.create_database("bench_reconcile")
        seed(url, rows)
        runs = [_reconcile_once(services, url, orphans=rows // 1000) for _ in range(1 if quick else 2)]
        assert all(run["orphans"] == rows // 1000 for run in runs), runs
        results.add(
            Row(
                SECTION,
                f"reconcile at {rows:,} images: peak RSS",
                "MB",
                Stats.of([run["peak"] / 1e6 for run in runs]),
                "the same process before it runs",
                Stats.of([run["idle"] / 1e6 for run in runs]),
                goals=(Goal(256, on_value=True, worst=True),) if rows == 1_000_000 else (),
            )
        )
        results.add(
            Row(
                SECTION,
                f"reconcile at {rows:,} images: both passes",
                "s",
                Stats.of([run["seconds"] for run in runs]),
            )
        )


def _reconcile_once(services: Services, url: str, *, orphans: int) -> dict[str, float]:
    env = child_env({**services.env, "DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    done = subprocess.run(
        [sys.executable, "-c", _RECONCILE_CHILD, str(orphans)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
