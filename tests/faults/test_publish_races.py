"""Races around publishing, each interleaving forced with a hook at the exact point (never a
sleep standing in for an ordering): a complete whose S3 work outlasts the database deadline,
two completes of one session, a session that expires mid-complete while reconcile sweeps, a file
swapped in the store while it is checked, reconcile against a complete that publishes, and a
DELETE while the first thumbnail renders."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from local.apigw import HttpResponse
from tests.conftest import Stores
from tests.http.test_upload_sessions import put, send
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import EventTarget, HttpTarget

PHOTO = make_image("PNG", (320, 240), noise=True)


def _hook_reads(
    monkeypatch: pytest.MonkeyPatch, prefix: str, after_first_chunk: Callable[[], None]
) -> list[int]:
    """Runs after_first_chunk once, the first time an object under prefix has been read through
    its first chunk (before the reader gets on); returns how often it ran."""
    from imageapi.store import storage

    original = storage.StoredObject.chunks
    ran: list[int] = []

    def chunks(self: Any) -> Generator[bytes]:
        first = True
        for chunk in original(self):
            yield chunk
            if first and not ran and self.key.startswith(prefix):
                ran.append(1)
                after_first_chunk()
            first = False

    monkeypatch.setattr(storage.StoredObject, "chunks", chunks)
    return ran


def _reconcile_aside(reports: list[Any]) -> None:
    """A reconcile run in a thread of its own, as another process would run it (it waits on no
    lock of the caller's), within 30 s; its report is appended to reports."""
    from imageapi.store.reconcile import reconcile

    sweep = threading.Thread(
        target=lambda: reports.append(reconcile(apply=True, grace=timedelta(0), max_share=1.0))
    )
    sweep.start()
    sweep.join(30)
    assert reports, "reconcile waited on the request"


def _db(stores: Stores) -> psycopg.Connection[Any]:
    return psycopg.connect(stores.env["DATABASE_URL"], autocommit=True)


def test_a_complete_whose_s3_work_outlasts_the_database_deadline_still_publishes(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(EventTarget())
    session = send(api, PHOTO)
    with layer_env(monkeypatch, DATABASE_OPERATION_TIMEOUT_MS="200"):
        # The check takes longer than any one database call may: it must not run inside one.
        ran = _hook_reads(monkeypatch, "incoming/", lambda: time.sleep(0.5))
        response = api.complete(session["upload_id"])
    assert ran == [1]
    assert response.status == 201, response.body
    assert api.download(json_of(response)["id"]).body == PHOTO


def test_a_second_complete_during_the_first_answers_409_then_the_same_image(
    dev_server: str, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(HttpTarget("devserver", dev_server))
    with layer_env(monkeypatch, DATABASE_POOL_SIZE="4"):
        session = send(api, PHOTO)
        at_work, finish = threading.Event(), threading.Event()

        def hold() -> None:
            at_work.set()
            assert finish.wait(30)

        _hook_reads(monkeypatch, "incoming/", hold)
        first: list[HttpResponse] = []
        worker = threading.Thread(target=lambda: first.append(api.complete(session["upload_id"])))
        worker.start()
        assert at_work.wait(30)
        second = api.complete(session["upload_id"])  # the first holds the lease, and no row lock
        finish.set()
        worker.join(30)
        third = api.complete(session["upload_id"])
    assert second.status == 409 and second.header("retry-after") == "2", second.body
    assert "being completed by another request" in json_of(second)["detail"]
    assert first[0].status == 201 and third.status == 201
    assert json_of(third)["id"] == json_of(first[0])["id"]
    assert len(stores.rows()) == 1


def test_a_session_expiring_mid_complete_is_not_swept_by_reconcile(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:

    api = Api(EventTarget())
    session = send(api, PHOTO)
    reports: list[Any] = []

    def expire_and_sweep() -> None:
        with _db(stores) as conn:
            conn.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'")
        _reconcile_aside(reports)

    ran = _hook_reads(monkeypatch, "incoming/", expire_and_sweep)
    response = api.complete(session["upload_id"])
    assert ran == [1]
    assert reports[0].expired_upload_sessions == [] and reports[0].incoming_objects_without_sessions == []
    assert response.status == 201, response.body
    assert api.download(json_of(response)["id"]).body == PHOTO


def test_a_file_swapped_while_it_is_checked_is_never_published(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(EventTarget())
    session = send(api, PHOTO)
    html = (b"<!DOCTYPE html><script>alert(1)</script>" + b" " * len(PHOTO))[: len(PHOTO)]

    # The same presigned PUT (its length is signed, so the same length) replaces the file once
    # the check has read it: the store honours no precondition that would catch it (rclone).
    def swap() -> None:
        put(session, html).raise_for_status()

    _hook_reads(monkeypatch, "incoming/", swap)
    response = api.complete(session["upload_id"])
    assert response.status == 201, response.body
    image = json_of(response)
    published = api.download(image["id"]).body
    assert published == PHOTO  # what was checked, not what the store holds now
    import hashlib

    assert image["sha256"] == hashlib.sha256(published).hexdigest()


def _crashed_complete(api: Api, stores: Stores) -> tuple[dict[str, Any], str]:
    """A session whose complete published its object, then died before the row: its lease ran out."""
    session = send(api, PHOTO)
    with _db(stores) as conn:
        row = conn.execute(
            "UPDATE upload_sessions SET state = 'completing', lease_owner = %s,"
            " lease_expires_at = now() - interval '1 second' WHERE id = %s RETURNING image_id",
            (uuid.uuid4(), session["upload_id"]),
        ).fetchone()
    assert row is not None
    key = f"images/{row[0]}"
    stores.s3.put_object(Bucket=stores.bucket, Key=key, Body=PHOTO, ContentType="image/png")
    return session, key


@pytest.fixture
def hooked_listing(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[], None]], None]:
    """hook(prefix, fn): fn runs once reconcile's listing of prefix has ended, before it deletes."""
    from imageapi.store import storage

    def hook(prefix: str, fn: Callable[[], None]) -> None:
        original = storage.Storage.objects

        def objects(self: Any, *, prefix: str) -> Iterator[tuple[str, Any]]:
            yield from original(self, prefix=prefix)
            if prefix == wanted:
                fn()

        wanted = prefix
        monkeypatch.setattr(storage.Storage, "objects", objects)

    return hook


def test_reconcile_never_deletes_a_file_whose_row_committed_after_it_read_the_rows(
    stores: Stores, hooked_listing: Callable[[str, Callable[[], None]], None]
) -> None:
    from imageapi.store.reconcile import reconcile

    api = Api(EventTarget())
    session, key = _crashed_complete(api, stores)
    completed: list[HttpResponse] = []
    # Both inventories are read (the crashed attempt's object has no row); then, while reconcile
    # lists thumbnails on its way to deleting, the retry publishes it.
    hooked_listing("thumbnails/", lambda: completed.append(api.complete(session["upload_id"])))
    report = reconcile(apply=True, grace=timedelta(0), max_share=1.0)
    assert completed[0].status == 201, completed[0].body
    assert report.objects_without_rows == [key]  # a candidate when listed...
    assert report.deleted_objects == 0  # ...kept when re-checked
    assert api.download(json_of(completed[0])["id"]).body == PHOTO


def test_reconcile_skips_the_file_of_a_complete_at_work(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:

    api = Api(EventTarget())
    session, key = _crashed_complete(api, stores)
    reports: list[Any] = []

    # The retry has taken the lease over and is checking the file when reconcile runs.
    _hook_reads(monkeypatch, "incoming/", lambda: _reconcile_aside(reports))
    response = api.complete(session["upload_id"])
    assert reports[0].objects_without_rows == [key] and reports[0].deleted_objects == 0
    assert reports[0].incoming_objects_without_sessions == []
    assert response.status == 201, response.body
    assert api.download(json_of(response)["id"]).body == PHOTO


def test_a_complete_claiming_while_reconcile_deletes_waits_for_it(
    dev_server: str, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imageapi.store import storage
    from imageapi.store.reconcile import reconcile

    api = Api(HttpTarget("devserver", dev_server))
    with layer_env(monkeypatch, DATABASE_POOL_SIZE="4"):
        session, key = _crashed_complete(api, stores)
        original = storage.Storage.delete_many
        completed: list[HttpResponse] = []

        def delete_many(self: Any, *, keys: list[str]) -> list[str]:
            if key in keys:  # re-checked: unpublished. A retry claims the session right now.
                worker = threading.Thread(target=lambda: completed.append(api.complete(session["upload_id"])))
                worker.start()
                _wait_for_a_lock_wait(stores)  # its claim waits for this transaction
                failed = original(self, keys=keys)
                monkeypatch.setattr(storage.Storage, "delete_many", original)
                threading.Thread(target=worker.join).start()
                return failed
            return original(self, keys=keys)

        monkeypatch.setattr(storage.Storage, "delete_many", delete_many)
        report = reconcile(apply=True, grace=timedelta(0), max_share=1.0)
        deadline = time.monotonic() + 30
        while not completed and time.monotonic() < deadline:
            time.sleep(0.05)
    assert report.deleted_objects == 1  # the crashed attempt's object went...
    assert completed and completed[0].status == 201, completed
    assert api.download(json_of(completed[0])["id"]).body == PHOTO  # ...and the retry put it back


def _wait_for_a_lock_wait(stores: Stores) -> None:
    """Until some statement waits on a row lock (bounded: fails after 30 s)."""
    deadline = time.monotonic() + 30
    with _db(stores) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE upload_sessions%%'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no claim waited on reconcile's lock")


def test_a_delete_during_the_first_thumbnail_leaves_no_thumbnail(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imageapi.store import storage

    api = Api(EventTarget())
    image = api.upload_ok(PHOTO)
    original = storage.Storage.put
    deleted: list[int] = []

    def put_(self: Any, *, key: str, **kwargs: Any) -> None:
        if key.startswith("thumbnails/") and not deleted:  # rendered; the DELETE lands now

            def delete() -> None:  # another invocation: a thread with an event loop of its own
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
                try:
                    deleted.append(api.delete(image["id"]).status)
                finally:
                    asyncio.set_event_loop(None)
                    loop.close()

            worker = threading.Thread(target=delete)
            worker.start()
            worker.join(30)
        original(self, key=key, **kwargs)

    monkeypatch.setattr(storage.Storage, "put", put_)
    response = api.thumbnail(image["id"])
    assert deleted == [204]
    assert response.status == 404, response.body
    assert stores.rows() == [] and stores.object_keys() == []


def test_a_complete_out_of_time_answers_503_and_publishes_nothing(
    dev_server: str, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(HttpTarget("devserver", dev_server))
    session = send(api, PHOTO)
    with layer_env(monkeypatch, REQUEST_TIMEOUT_SECONDS="6.2"):  # 0.2 s before the row's reserve
        ran = _hook_reads(monkeypatch, "incoming/", lambda: time.sleep(0.5))
        late = api.complete(session["upload_id"])
    assert ran == [1]
    assert late.status == 503 and late.header("retry-after") == "5", late.body
    assert "within the time a request may run" in json_of(late)["detail"]
    assert stores.rows() == [] and stores.unfinished_uploads() == []
    assert stores.object_keys() == [f"incoming/{session['upload_id']}"]
    assert [s["state"] for s in stores.upload_sessions()] == ["open"]  # the lease was given back
    assert api.complete(session["upload_id"]).status == 201
