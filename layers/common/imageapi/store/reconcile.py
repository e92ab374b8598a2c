"""Finds what a crash can leave behind: objects without rows, rows without objects, and
thumbnails without rows (a deletion whose object removal failed).

`python -m imageapi.store.reconcile` reports them (a dry run). `--apply` deletes objects without rows;
rows without objects are deleted only with `--delete-rows` as well, since a row is metadata
that nothing else can recreate. On AWS, `handler` runs on a schedule and deletes orphan
objects only. Any run stops without deleting anything when the listing looks wrong."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from imageapi.core.errors import StorageUnavailable
from imageapi.core.settings import get_settings

from . import idempotency, repository
from .db import Database, get_database
from .layout import THUMBNAILS_PREFIX, image_id_of_key, image_id_of_thumbnail, image_key, shard_ids
from .storage import Storage, get_storage

PREFIX = "images/"
INCOMING_PREFIX = "incoming/"  # upload sessions' files, before they are checked
# An object younger than this may belong to an upload whose row is being written right now.
GRACE = timedelta(minutes=15)
_LOGGED_KEYS = 100  # a log line names at most this many keys; the count is always exact
RECHECK_BATCH = 100  # image objects re-checked and deleted per transaction
ROWS_PAGE = 5000  # rows read per statement while merging with the listing
# Idempotency-Keys past their lifetime: each run removes at most this many batches.
IDEMPOTENCY_BATCH = 1000
IDEMPOTENCY_BATCHES = 100

log = logging.getLogger(__name__)


@dataclass
class Found:
    """How many of one kind of difference a pass found, and the first of them (in key order)."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, key: str) -> None:
        self.count += 1
        if len(self.first) < _LOGGED_KEYS:
            self.first.append(key)


@dataclass
class Scan:
    """One merged pass over the bucket listing and the rows, kept to counts: its memory does not
    grow with the number of images."""

    listing_started: datetime  # the database's clock, read just before the listing
    objects: int = 0
    rows: int = 0
    keys: int = 0  # objects and rows together, each key once
    objects_without_rows: Found = field(default_factory=Found)
    rows_without_objects: Found = field(default_factory=Found)


def scan(*, db: Database, storage: Storage, grace: timedelta = timedelta(0), shard: str = "") -> Scan:
    """Counts what differs between the stores (the banner of `make dev`, and reconcile's first
    pass). Raises StorageUnavailable when the listing fails."""
    found = Scan(listing_started=db.run(repository.database_now))
    since = found.listing_started - grace
    for kind, key in differences(db=db, storage=storage, since=since, tally=found, shard=shard):
        (found.objects_without_rows if kind == "object" else found.rows_without_objects).add(key)
    return found


def differences(
    *, db: Database, storage: Storage, since: datetime, tally: Scan | None = None, shard: str = ""
) -> Iterator[tuple[str, str]]:
    """("object", key) for each object under images/ without a row, last modified before since;
    ("row", key) for each row without an object, created before since (a row committed while the
    listing ran may belong to an object the listing had already passed). A merge of the listing,
    which S3 returns in key order, with the rows read a page at a time in id order, which is
    the same order (images/<uuid>, lowercase hex): nothing is held but one page of each.
    A shard (leading hex digits of the ids) limits both sides to its keys."""
    objects, rows = storage.objects(prefix=PREFIX + shard), _row_keys(db, shard)
    obj, row = next(objects, None), next(rows, None)
    while obj is not None or row is not None:
        if tally is not None:
            tally.keys += 1
        if row is None or (obj is not None and obj[0] < row[0]):
            assert obj is not None
            if tally is not None:
                tally.objects += 1
            if obj[1] < since:
                yield "object", obj[0]
            obj = next(objects, None)
        elif obj is None or row[0] < obj[0]:
            if tally is not None:
                tally.rows += 1
            if row[1] < since:
                yield "row", row[0]
            row = next(rows, None)
        else:
            if tally is not None:
                tally.objects += 1
                tally.rows += 1
            obj, row = next(objects, None), next(rows, None)


def _row_keys(db: Database, shard: str = "") -> Iterator[tuple[str, datetime]]:
    """(images/<id>, created_at) of every row (of the shard) in id order, ROWS_PAGE at a time, each
    page a short statement of its own (no transaction held open: it would hold back the
    listing's horizon)."""
    first, end = shard_ids(shard)
    after: uuid.UUID | None = None
    while True:
        page = db.run(repository.image_ids_after, after=after, limit=ROWS_PAGE, first=first, end=end)
        for image_id, created in page:
            yield image_key(image_id), created
        if len(page) < ROWS_PAGE:
            return
        after = page[-1][0]


@dataclass
class Report:
    objects_without_rows: list[str] = field(default_factory=list)  # the first _LOGGED_KEYS
    rows_without_objects: list[str] = field(default_factory=list)
    thumbnails_without_rows: list[str] = field(default_factory=list)
    objects_without_rows_count: int = 0
    rows_without_objects_count: int = 0
    thumbnails_without_rows_count: int = 0
    deleted_objects: int = 0
    deleted_rows: int = 0
    stopped: str | None = None  # why this run deleted nothing, when it refused to
    applied: bool = False
    expired_upload_sessions: list[str] = field(default_factory=list)
    incoming_objects_without_sessions: list[str] = field(default_factory=list)
    expired_idempotency_keys: int = 0


def reconcile(
    *,
    apply: bool,
    delete_rows: bool = False,
    grace: timedelta | None = None,
    max_share: float | None = None,
    db: Database | None = None,
    storage: Storage | None = None,
    shard: str = "",
) -> Report:
    """Reports, and with apply deletes orphan objects (and with delete_rows, rows without
    objects) unless a safety valve stops the run. Two merged passes: the first counts, so that
    the valves can stop the run before anything is deleted; the second deletes as it goes.
    A shard ("0"-"f", or two digits) covers the images whose ids start with it: sixteen runs
    that each fit in the function's Timeout cover a bucket one run could not."""
    shard_ids(shard)  # ValueError before anything is read
    db, storage = db or get_database(), storage or get_storage()
    grace = GRACE if grace is None else grace
    max_share = get_settings().reconcile_max_share if max_share is None else max_share
    try:
        found = scan(db=db, storage=storage, grace=grace, shard=shard)
        thumbnails = Found()
        for key in orphan_thumbnails(db=db, storage=storage, shard=shard):
            thumbnails.add(key)
    except StorageUnavailable:
        return _stop(Report(), "the bucket listing failed")
    report = Report(
        objects_without_rows=found.objects_without_rows.first,
        rows_without_objects=found.rows_without_objects.first,
        thumbnails_without_rows=thumbnails.first,
        objects_without_rows_count=found.objects_without_rows.count,
        rows_without_objects_count=found.rows_without_objects.count,
        thumbnails_without_rows_count=thumbnails.count,
    )
    if found.rows_without_objects.count:
        log.warning(
            "rows without objects",
            extra={
                "fields": {
                    "count": found.rows_without_objects.count,
                    "object_keys": found.rows_without_objects.first,
                    "deleted": apply and delete_rows,
                }
            },
        )
    reason = _unsafe(found, delete_rows=delete_rows, max_share=max_share)
    if reason is not None:
        return _stop(report, reason)
    report.expired_upload_sessions, report.incoming_objects_without_sessions = sweep_upload_sessions(
        db=db, storage=storage, apply=apply, grace=grace
    )
    if not apply:
        return report
    try:
        report.deleted_objects, report.deleted_rows = _apply(
            db=db, storage=storage, since=found.listing_started - grace, delete_rows=delete_rows, shard=shard
        )
        orphans = orphan_thumbnails(db=db, storage=storage, shard=shard)
        report.deleted_objects += _delete_in_batches(storage, orphans)
    except StorageUnavailable:
        return _stop(report, "the bucket listing failed while deleting")
    report.expired_idempotency_keys = expire_idempotency_keys(db=db)
    report.applied = True
    return report


def _apply(
    *, db: Database, storage: Storage, since: datetime, delete_rows: bool, shard: str
) -> tuple[int, int]:
    """The second pass: deletes what it finds, a batch at a time (objects re-checked first)."""
    objects: list[str] = []
    rows: list[uuid.UUID] = []
    deleted_objects = deleted_rows = 0
    for kind, key in differences(db=db, storage=storage, since=since, shard=shard):
        if kind == "object":
            objects.append(key)
        elif delete_rows and (image_id := image_id_of_key(key)) is not None:
            rows.append(image_id)
        if len(objects) >= RECHECK_BATCH:
            deleted_objects += delete_unpublished(db=db, storage=storage, keys=objects)
            objects = []
        if len(rows) >= RECHECK_BATCH:
            deleted_rows += db.run(repository.delete_images, image_ids=rows)
            rows = []
    if objects:
        deleted_objects += delete_unpublished(db=db, storage=storage, keys=objects)
    if rows:
        deleted_rows += db.run(repository.delete_images, image_ids=rows)
    return deleted_objects, deleted_rows


def _unsafe(found: Scan, *, delete_rows: bool, max_share: float) -> str | None:
    """Why deleting would be a mistake (a wrong bucket or endpoint, a restore elsewhere), or None."""
    if not found.objects and found.rows:
        return f"the bucket listing is empty while {found.rows} rows exist"
    touched = found.objects_without_rows.count + (found.rows_without_objects.count if delete_rows else 0)
    if touched > max_share * found.keys:
        return (
            f"{touched} of {found.keys} keys would be deleted, more than the allowed share of {max_share:.2%}"
        )
    return None


def _stop(report: Report, reason: str) -> Report:
    report.stopped = reason
    log.error("reconcile stopped: nothing deleted", extra={"fields": {"reason": reason}})
    return report


def sweep_upload_sessions(
    *, db: Database, storage: Storage, apply: bool, grace: timedelta
) -> tuple[list[str], list[str]]:
    """Upload sessions past their expiry, and incoming/ files no open session will complete
    (expired, refused, or completed but not deleted), older than grace: (upload ids, keys).
    On AWS the bucket's lifecycle rule expires incoming/ as well; other stores rely on this."""
    cutoff = datetime.now(UTC) - grace
    expired = db.run(repository.expired_upload_sessions)
    open_keys = db.run(repository.open_incoming_keys)
    keys = sorted(
        k
        for k, modified in storage.objects(prefix=INCOMING_PREFIX)
        if k not in open_keys and modified < cutoff
    )
    if apply:
        _delete(storage, keys)
        if expired:
            db.run(repository.delete_upload_sessions, upload_ids=[s.id for s in expired])
    return [str(s.id) for s in expired], keys


def delete_unpublished(*, db: Database, storage: Storage, keys: list[str]) -> int:
    """Deletes the images/ objects among keys that are still unpublished when it comes to them,
    RECHECK_BATCH at a time: each batch is checked against the rows and the uploads at work in
    the transaction that deletes it, with the sessions and idempotency keys that could publish
    them locked, so no row can commit and no retry can start writing one of them in between."""
    deleted = 0
    for start in range(0, len(keys), RECHECK_BATCH):
        deleted += db.run(_delete_batch, keys=keys[start : start + RECHECK_BATCH], storage=storage)
    return deleted


def _delete_batch(conn: psycopg.Connection[Any], /, *, keys: list[str], storage: Storage) -> int:
    with conn.transaction():
        unpublished = repository.unpublished_image_keys(
            conn, keys=keys, image_ids=[image_id_of_key(key) for key in keys]
        )
        skipped = len(keys) - len(unpublished)
        if skipped:
            log.info("objects published since the listing kept", extra={"fields": {"count": skipped}})
        return _delete(storage, unpublished) if unpublished else 0


def expire_idempotency_keys(*, db: Database) -> int:
    """Removes Idempotency-Keys past their lifetime, a batch at a time, at most a bounded number
    of batches per run (the next run goes on)."""
    removed = 0
    for _ in range(IDEMPOTENCY_BATCHES):
        batch = db.run(
            idempotency.delete_expired_keys,
            lifetime_seconds=idempotency.LIFETIME.total_seconds(),
            batch=IDEMPOTENCY_BATCH,
        )
        removed += batch
        if batch < IDEMPOTENCY_BATCH:
            break
    return removed


def _delete(storage: Storage, keys: list[str]) -> int:
    """Deletes keys a thousand per request (S3's most); how many went. Those that failed are
    logged and found again by the next run."""
    failed: list[str] = []
    for start in range(0, len(keys), 1000):
        failed += storage.delete_many(keys=keys[start : start + 1000])
    if failed:
        log.error(
            "objects not deleted", extra={"fields": {"count": len(failed), "keys": failed[:_LOGGED_KEYS]}}
        )
    return len(keys) - len(failed)


def orphan_thumbnails(*, db: Database, storage: Storage, shard: str = "") -> Iterator[str]:
    """Thumbnails whose image has no row (deleted, or never stored), in key order: a merge of
    the thumbnails' listing (thumbnails/<id>/..., in id order) with the rows' ids. No grace
    period: a thumbnail is only made for an existing row, and a render that finds its row gone
    after storing removes its thumbnail itself."""
    ids = (key.removeprefix(PREFIX) for key, _ in _row_keys(db, shard))
    current = next(ids, None)
    for key, _ in storage.objects(prefix=THUMBNAILS_PREFIX + shard):
        image_id = image_id_of_thumbnail(key)
        while current is not None and image_id is not None and current < image_id:
            current = next(ids, None)
        if image_id is None or current != image_id:
            yield key


def _delete_in_batches(storage: Storage, keys: Iterator[str]) -> int:
    deleted, batch = 0, []
    for key in keys:
        batch.append(key)
        if len(batch) >= 1000:
            deleted, batch = deleted + _delete(storage, batch), []
    return deleted + (_delete(storage, batch) if batch else 0)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled Lambda entry point: deletes orphan objects, never rows (those are reported).
    {"apply": false} in the event makes it a dry run; {"shard": "a"} covers the ids starting with a."""
    report = reconcile(apply=bool(event.get("apply", True)), shard=str(event.get("shard", "")))
    summary = {
        **asdict(report),
        "objects_without_rows": report.objects_without_rows_count,
        "rows_without_objects": report.rows_without_objects_count,
        "thumbnails_without_rows": report.thumbnails_without_rows_count,
    }
    log.info("reconciled", extra={"fields": summary})
    return asdict(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imageapi.store.reconcile", description=__doc__)
    parser.add_argument("--apply", action="store_true", help="delete objects without rows")
    parser.add_argument(
        "--delete-rows", action="store_true", help="with --apply, also delete rows without objects"
    )
    parser.add_argument("--grace-minutes", type=float, default=GRACE.total_seconds() / 60)
    parser.add_argument("--shard", default="", help="only ids starting with these hex digits (0-f, 00-ff)")
    parser.add_argument(
        "--max-share",
        type=float,
        default=None,
        help="stop if more than this share of keys would be deleted (default: RECONCILE_MAX_SHARE, 0.01)",
    )
    args = parser.parse_args(argv)
    if args.delete_rows and not args.apply:
        parser.error("--delete-rows needs --apply")
    try:
        shard_ids(args.shard)
    except ValueError as exc:
        parser.error(str(exc))
    report = reconcile(
        apply=args.apply,
        delete_rows=args.delete_rows,
        grace=timedelta(minutes=args.grace_minutes),
        max_share=args.max_share,
        shard=args.shard,
    )
    print(json.dumps(asdict(report), indent=2))
    if report.stopped:
        print(f"stopped, nothing deleted: {report.stopped}", file=sys.stderr)
        return 1
    found = report.objects_without_rows or report.rows_without_objects or report.thumbnails_without_rows
    if not args.apply and (
        found or report.expired_upload_sessions or report.incoming_objects_without_sessions
    ):
        print("dry run: --apply deletes the objects, --apply --delete-rows the rows too", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
