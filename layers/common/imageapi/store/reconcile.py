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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from imageapi.core.errors import StorageUnavailable
from imageapi.core.settings import get_settings

from . import idempotency, repository
from .db import Database, get_database
from .layout import THUMBNAILS_PREFIX, image_id_of_key, image_id_of_thumbnail
from .storage import Storage, get_storage

PREFIX = "images/"
INCOMING_PREFIX = "incoming/"  # upload sessions' files, before they are checked
# An object younger than this may belong to an upload whose row is being written right now.
GRACE = timedelta(minutes=15)
_LOGGED_KEYS = 100  # a log line names at most this many keys; the count is always exact
RECHECK_BATCH = 100  # image objects re-checked and deleted per transaction
# Idempotency-Keys past their lifetime: each run removes at most this many batches.
IDEMPOTENCY_BATCH = 1000
IDEMPOTENCY_BATCHES = 100

log = logging.getLogger(__name__)


@dataclass
class Inventory:
    """Both stores as read by one pass: the bucket listing, then the rows."""

    listing_started: datetime  # the database's clock, read just before the listing
    objects: dict[str, datetime]  # key -> last modified
    rows: dict[str, datetime]  # object key -> created_at

    def objects_without_rows(self, *, grace: timedelta = timedelta(0)) -> list[str]:
        cutoff = self.listing_started - grace
        return sorted(k for k, modified in self.objects.items() if k not in self.rows and modified < cutoff)

    def rows_without_objects(self, *, grace: timedelta = timedelta(0)) -> list[str]:
        """Only rows created before the listing began (less the grace): a row committed while
        the listing ran may belong to an object the listing had already passed."""
        cutoff = self.listing_started - grace
        return sorted(k for k, created in self.rows.items() if k not in self.objects and created < cutoff)


def inventory(*, db: Database, storage: Storage) -> Inventory:
    started = db.run(repository.database_now)
    objects = dict(storage.objects(prefix=PREFIX))
    return Inventory(listing_started=started, objects=objects, rows=db.run(repository.image_keys))


@dataclass
class Report:
    objects_without_rows: list[str] = field(default_factory=list)
    rows_without_objects: list[str] = field(default_factory=list)
    deleted_objects: int = 0
    deleted_rows: int = 0
    stopped: str | None = None  # why this run deleted nothing, when it refused to
    applied: bool = False
    expired_upload_sessions: list[str] = field(default_factory=list)
    incoming_objects_without_sessions: list[str] = field(default_factory=list)
    thumbnails_without_rows: list[str] = field(default_factory=list)
    expired_idempotency_keys: int = 0


def reconcile(
    *,
    apply: bool,
    delete_rows: bool = False,
    grace: timedelta | None = None,
    max_share: float | None = None,
    db: Database | None = None,
    storage: Storage | None = None,
) -> Report:
    """Reports, and with apply deletes orphan objects (and with delete_rows, rows without
    objects) unless a safety valve stops the run."""
    db, storage = db or get_database(), storage or get_storage()
    grace = GRACE if grace is None else grace
    max_share = get_settings().reconcile_max_share if max_share is None else max_share
    try:
        found = inventory(db=db, storage=storage)
    except StorageUnavailable:
        return _stop(Report(), "the bucket listing failed")
    report = Report(
        objects_without_rows=found.objects_without_rows(grace=grace),
        rows_without_objects=found.rows_without_objects(grace=grace),
    )
    if report.rows_without_objects:
        log.warning(
            "rows without objects",
            extra={
                "fields": {
                    "count": len(report.rows_without_objects),
                    "object_keys": report.rows_without_objects[:_LOGGED_KEYS],
                    "deleted": apply and delete_rows,
                }
            },
        )
    report.thumbnails_without_rows = find_orphan_thumbnails(db=db, storage=storage)
    reason = _unsafe(found, report, delete_rows=delete_rows, max_share=max_share)
    if reason is not None:
        return _stop(report, reason)
    report.expired_upload_sessions, report.incoming_objects_without_sessions = sweep_upload_sessions(
        db=db, storage=storage, apply=apply, grace=grace
    )
    if not apply:
        return report
    report.deleted_objects = delete_unpublished(db=db, storage=storage, keys=report.objects_without_rows)
    report.deleted_objects += _delete(storage, report.thumbnails_without_rows)
    report.expired_idempotency_keys = expire_idempotency_keys(db=db)
    if delete_rows and report.rows_without_objects:
        ids = [i for i in map(image_id_of_key, report.rows_without_objects) if i is not None]
        report.deleted_rows = db.run(repository.delete_images, image_ids=ids)
    report.applied = True
    return report


def _unsafe(found: Inventory, report: Report, *, delete_rows: bool, max_share: float) -> str | None:
    """Why deleting would be a mistake (a wrong bucket or endpoint, a restore elsewhere), or None."""
    if not found.objects and found.rows:
        return f"the bucket listing is empty while {len(found.rows)} rows exist"
    touched = len(report.objects_without_rows) + (len(report.rows_without_objects) if delete_rows else 0)
    keys = len(found.objects.keys() | found.rows.keys())
    if touched > max_share * keys:
        return f"{touched} of {keys} keys would be deleted, more than the allowed share of {max_share:.2%}"
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


def find_orphan_thumbnails(*, db: Database, storage: Storage) -> list[str]:
    """Thumbnails whose image has no row (deleted, or never stored). No grace period: a
    thumbnail is only made for an existing row, and the listing comes before the rows are read,
    so a thumbnail listed here whose row is missing belonged to an image that is gone. (The rows
    are read again rather than taken from the inventory, which was read before this listing.)"""
    keys = [key for key, _ in storage.objects(prefix=THUMBNAILS_PREFIX)]
    ids = db.run(repository.image_ids)
    return sorted(key for key in keys if image_id_of_thumbnail(key) not in ids)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled Lambda entry point: deletes orphan objects, never rows (those are reported).
    {"apply": false} in the event makes it a dry run."""
    report = reconcile(apply=bool(event.get("apply", True)))
    summary = {
        **asdict(report),
        "objects_without_rows": len(report.objects_without_rows),
        "rows_without_objects": len(report.rows_without_objects),
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
    parser.add_argument(
        "--max-share",
        type=float,
        default=None,
        help="stop if more than this share of keys would be deleted (default: RECONCILE_MAX_SHARE, 0.01)",
    )
    args = parser.parse_args(argv)
    if args.delete_rows and not args.apply:
        parser.error("--delete-rows needs --apply")
    report = reconcile(
        apply=args.apply,
        delete_rows=args.delete_rows,
        grace=timedelta(minutes=args.grace_minutes),
        max_share=args.max_share,
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
