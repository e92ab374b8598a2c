"""Finds what a crash can leave behind: objects without rows, and rows without objects.

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
from .storage import Storage, get_storage

PREFIX = "images/"
INCOMING_PREFIX = "incoming/"  # upload sessions' files, before they are checked
# An object younger than this may belong to an upload whose row is being written right now.
GRACE = timedelta(minutes=15)

log = logging.getLogger(__name__)


@dataclass
class Report:
    objects_without_rows: list[str]
    rows_without_objects: list[str]
    applied: bool = False
    expired_upload_sessions: list[str] = field(default_factory=list)
    incoming_objects_without_sessions: list[str] = field(default_factory=list)


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


def remove_orphans(report: Report, *, db: Database, storage: Storage) -> Report:
    for key in report.objects_without_rows:
        storage.delete(key=key)
    if report.rows_without_objects:
        db.run(repository.delete_images, object_keys=report.rows_without_objects)
    report.applied = True
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
        for key in keys:
            storage.delete(key=key)
        if expired:
            db.run(repository.delete_upload_sessions, upload_ids=[s.id for s in expired])
    return [str(s.id) for s in expired], keys


def reconcile(*, apply: bool, grace: timedelta = GRACE) -> Report:
    db, storage = get_database(), get_storage()
    report = find_orphans(db=db, storage=storage, grace=grace)
    report = remove_orphans(report, db=db, storage=storage) if apply else report
    report.expired_upload_sessions, report.incoming_objects_without_sessions = sweep_upload_sessions(
        db=db, storage=storage, apply=apply, grace=grace
    )
    return report


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
    found = report.objects_without_rows or report.rows_without_objects
    if not args.apply and (
        found or report.expired_upload_sessions or report.incoming_objects_without_sessions
    ):
        print("dry run: run again with --apply to delete these", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
