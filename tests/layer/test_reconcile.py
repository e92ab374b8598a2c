"""Reconcile against the real PostgreSQL and S3: an upload racing the listing survives, rows are
deleted only when asked, and a listing that looks wrong stops the run before any deletion."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from imageapi.core.settings import get_settings
from imageapi.store import repository
from imageapi.store.reconcile import PREFIX, handler, reconcile
from imageapi.store.storage import Storage, get_storage, make_client
from tests.conftest import Stores, _free_port
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.rows import image_row
from tests.support.targets import EventTarget

NO_GRACE = timedelta(0)


def add_image(stores: Stores, *, row: bool = True, obj: bool = True) -> str:
    """A row and/or an object for one image, written directly; returns the object key."""
    image_id = uuid.uuid4()
    key = f"images/{image_id}"
    if obj:
        stores.s3.put_object(Bucket=stores.bucket, Key=key, Body=b"image", ContentType="image/png")
    if row:
        with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
            repository.insert_image(conn, image=image_row(image_id, object_key=key))
    return key


class UploadDuringListing(Storage):
    """The bucket as the real one, except that an upload completes through the API right after
    the listing has passed: its object is not listed, its row is committed before reconcile
    reads the rows."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage.client, storage.bucket)
        self.uploaded: dict[str, Any] = {}

    def objects(self, *, prefix: str) -> Iterator[tuple[str, datetime]]:
        yield from super().objects(prefix=prefix)
        if prefix == PREFIX and not self.uploaded:  # once, after the images' listing
            self.uploaded = Api(EventTarget()).upload_ok(make_image("PNG"))


def test_an_upload_completed_between_the_listing_and_the_row_query_survives(stores: Stores) -> None:
    add_image(stores)  # the bucket is not empty: no safety valve is what saves the upload
    storage = UploadDuringListing(get_storage())
    report = reconcile(apply=True, delete_rows=True, grace=NO_GRACE, max_share=1, storage=storage)
    assert storage.uploaded, "the upload did not run"
    assert report.stopped is None and report.applied
    assert report.rows_without_objects == [] and report.deleted_rows == 0
    api = Api(EventTarget())
    assert json_of(api.get(storage.uploaded["id"]))["id"] == storage.uploaded["id"]
    assert api.download(storage.uploaded["id"]).status == 200
    assert len(stores.rows()) == 2 and len(stores.object_keys()) == 2


def test_rows_without_objects_are_reported_and_deleted_only_when_asked(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    kept = [add_image(stores) for _ in range(3)]
    lost = add_image(stores, obj=False)
    with caplog.at_level(logging.WARNING, logger="imageapi.store.reconcile"):
        report = reconcile(apply=True, grace=NO_GRACE, max_share=1)
    assert report.rows_without_objects == [lost] and report.deleted_rows == 0
    assert len(stores.rows()) == 4
    [line] = [r for r in caplog.records if r.getMessage() == "rows without objects"]
    assert line.fields["count"] == 1 and line.fields["object_keys"] == [lost]  # type: ignore[attr-defined]

    report = reconcile(apply=True, delete_rows=True, grace=NO_GRACE, max_share=1)
    assert report.deleted_rows == 1
    assert sorted(r["object_key"] for r in stores.rows()) == sorted(kept)


def test_the_scheduled_run_deletes_orphan_objects_but_never_rows(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        add_image(stores)
    orphan, lost = add_image(stores, row=False), add_image(stores, obj=False)
    monkeypatch.setattr("imageapi.store.reconcile.GRACE", NO_GRACE)  # the orphan is seconds old
    with layer_env(monkeypatch, RECONCILE_MAX_SHARE="0.5"):
        result = handler({"apply": True, "delete_rows": True}, None)  # an event cannot ask for rows
    assert result["stopped"] is None and result["deleted_objects"] == 1 and result["deleted_rows"] == 0
    assert orphan not in stores.object_keys()
    assert lost in [r["object_key"] for r in stores.rows()]


def test_an_empty_listing_while_rows_exist_deletes_nothing(stores: Stores) -> None:
    keys = [add_image(stores, obj=False) for _ in range(2)]  # as if BucketName had changed
    report = reconcile(apply=True, delete_rows=True, grace=NO_GRACE, max_share=1)
    assert report.stopped is not None and "listing is empty" in report.stopped
    assert report.rows_without_objects == sorted(keys) and not report.applied
    assert len(stores.rows()) == 2


def test_a_failing_listing_deletes_nothing(stores: Stores) -> None:
    add_image(stores, obj=False)
    orphan = add_image(stores, row=False)
    settings = get_settings().model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{_free_port()}"})
    unreachable = Storage(make_client(settings), stores.bucket)
    report = reconcile(apply=True, delete_rows=True, grace=NO_GRACE, max_share=1, storage=unreachable)
    assert report.stopped == "the bucket listing failed" and not report.applied
    assert len(stores.rows()) == 1 and stores.object_keys() == [orphan]


def test_more_than_the_allowed_share_deletes_nothing(stores: Stores) -> None:
    for _ in range(8):
        add_image(stores)
    orphans = [add_image(stores, row=False) for _ in range(2)]
    report = reconcile(apply=True, grace=NO_GRACE)  # the default share, 1%: 2 of 10 is over
    assert get_settings().reconcile_max_share == 0.01
    assert report.stopped is not None and "2 of 10 keys" in report.stopped
    assert report.objects_without_rows == sorted(orphans) and report.deleted_objects == 0
    assert len(stores.object_keys()) == 10

    report = reconcile(apply=True, grace=NO_GRACE, max_share=0.2)  # exactly the share: allowed
    assert report.deleted_objects == 2 and len(stores.object_keys()) == 8


def test_the_report_is_json_and_the_cli_exits_1_when_stopped(stores: Stores, capsys: Any) -> None:
    from imageapi.store.reconcile import main

    add_image(stores, obj=False)
    assert main(["--apply", "--delete-rows", "--grace-minutes", "0"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["stopped"].startswith("the bucket listing is empty")
    assert "nothing deleted" in err and len(stores.rows()) == 1


def test_the_merge_reads_the_rows_a_page_at_a_time(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing and the rows are merged in key order, a few rows per statement: every kind of
    difference is still found across page boundaries, and nothing matching is reported."""
    monkeypatch.setattr("imageapi.store.reconcile.ROWS_PAGE", 3)
    both = [add_image(stores) for _ in range(7)]
    orphans = [add_image(stores, row=False) for _ in range(3)]
    lost = [add_image(stores, obj=False) for _ in range(2)]
    report = reconcile(apply=False, grace=NO_GRACE, max_share=1)
    assert report.objects_without_rows == sorted(orphans) and report.objects_without_rows_count == 3
    assert report.rows_without_objects == sorted(lost) and report.rows_without_objects_count == 2
    report = reconcile(apply=True, grace=NO_GRACE, max_share=1)
    assert report.deleted_objects == 3
    assert stores.object_keys() == sorted(both)


def test_sixteen_shards_find_what_one_run_finds_each_only_its_own(stores: Stores) -> None:
    """A shard covers the ids starting with its digit, in the bucket and in the table alike."""
    for _ in range(24):
        add_image(stores)
    orphans = [add_image(stores, row=False) for _ in range(12)]
    missing = [add_image(stores, obj=False) for _ in range(12)]
    whole = reconcile(apply=False, grace=NO_GRACE, max_share=1)
    assert sorted(whole.objects_without_rows) == sorted(orphans)
    found_objects: list[str] = []
    found_rows: list[str] = []
    for digit in "0123456789abcdef":
        part = reconcile(apply=False, grace=NO_GRACE, max_share=1, shard=digit)
        assert all(
            k.startswith(f"{PREFIX}{digit}") for k in part.objects_without_rows + part.rows_without_objects
        )
        found_objects += part.objects_without_rows
        found_rows += part.rows_without_objects
    assert sorted(found_objects) == sorted(orphans) and sorted(found_rows) == sorted(missing)
    shard = orphans[0].removeprefix(PREFIX)[0]
    applied = reconcile(apply=True, grace=NO_GRACE, max_share=1, shard=shard)
    assert applied.deleted_objects == sum(k.removeprefix(PREFIX)[0] == shard for k in orphans)
    left = {o["Key"] for o in stores.s3.list_objects_v2(Bucket=stores.bucket).get("Contents", [])}
    assert {k for k in orphans if k.removeprefix(PREFIX)[0] != shard} <= left
    assert not {k for k in orphans if k.removeprefix(PREFIX)[0] == shard} & left


@pytest.mark.parametrize("shard", ["g", "A", "abc", "/"])
def test_a_shard_that_is_not_hex_digits_is_refused_before_anything_is_read(
    stores: Stores, shard: str
) -> None:
    with pytest.raises(ValueError, match="hex digits"):
        reconcile(apply=True, grace=NO_GRACE, shard=shard)
