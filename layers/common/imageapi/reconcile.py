"""Finds what a crash can leave behind: objects without rows, rows without objects, and
thumbnails without rows (a deletion whose object removal failed).

`python -m imageapi.reconcile` reports them (a dry run); `--apply` deletes them. On AWS the
same runs on a schedule through `handler`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import repository
from .db import Database, get_database
from .layout import THUMBNAILS_PREFIX, image_id_of_thumbnail
from .storage import Storage, get_storage

PREFIX = "images/"
# An object younger than this may belong to an upload whose row is being written right now.
GRACE = timedelta(minutes=15)

log = logging.getLogger(__name__)


@dataclass
class Report:
    objects_without_rows: list[str]
    rows_without_objects: list[str]
    applied: bool = False
    thumbnails_without_rows: list[str] = field(default_factory=list)


def find_orphans(*, db: Database, storage: Storage, grace: timedelta = GRACE) -> Report:
    cutoff = datetime.now(UTC) - grace
    objects = dict(storage.objects(prefix=PREFIX))
    keys = db.run(repository.object_keys)
    return Report(
        objects_without_rows=sorted(
            k for k, modified in objects.items() if k not in keys and modified < cutoff
        ),
        rows_without_objects=sorted(keys - objects.keys()),
    )


def find_orphan_thumbnails(*, db: Database, storage: Storage) -> list[str]:
    """Thumbnails whose image has no row (deleted, or never stored). No grace period: a
    thumbnail is only made for an existing row, and the listing comes before the rows are read,
    so a thumbnail listed here whose row is missing belonged to an image that is gone."""
    keys = [key for key, _ in storage.objects(prefix=THUMBNAILS_PREFIX)]
    ids = db.run(repository.image_ids)
    return sorted(key for key in keys if image_id_of_thumbnail(key) not in ids)


def remove_orphans(report: Report, *, db: Database, storage: Storage) -> Report:
    for key in report.objects_without_rows + report.thumbnails_without_rows:
        storage.delete(key=key)
    if report.rows_without_objects:
        db.run(repository.delete_images, object_keys=report.rows_without_objects)
    report.applied = True
    return report


def reconcile(*, apply: bool, grace: timedelta = GRACE) -> Report:
    db, storage = get_database(), get_storage()
    report = find_orphans(db=db, storage=storage, grace=grace)
    report.thumbnails_without_rows = find_orphan_thumbnails(db=db, storage=storage)
    return remove_orphans(report, db=db, storage=storage) if apply else report


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled Lambda entry point; {"apply": false} in the event makes it a dry run."""
    report = reconcile(apply=bool(event.get("apply", True)))
    log.info("reconciled", extra={"fields": asdict(report)})
    return asdict(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imageapi.reconcile", description=__doc__)
    parser.add_argument("--apply", action="store_true", help="delete what the report lists")
    parser.add_argument("--grace-minutes", type=float, default=GRACE.total_seconds() / 60)
    args = parser.parse_args(argv)
    report = reconcile(apply=args.apply, grace=timedelta(minutes=args.grace_minutes))
    print(json.dumps(asdict(report), indent=2))
    found = report.objects_without_rows or report.rows_without_objects or report.thumbnails_without_rows
    if not args.apply and found:
        print("dry run: run again with --apply to delete these", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
