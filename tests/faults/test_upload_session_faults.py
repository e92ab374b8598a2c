"""Upload sessions when things go wrong for real: concurrent completes, S3 failing while the
checked bytes are published, a store that enforces the signed length, sessions abandoned and
swept by reconcile."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from local.apigw import HttpResponse
from local.services import rclone_s3
from tests.conftest import Stores
from tests.http.test_upload_sessions import PNG, put, send
from tests.support.api import Api, json_of
from tests.support.faults import cutting_proxy
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import EventTarget, HttpTarget


def test_concurrent_completes_make_one_image(
    dev_server: str, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(HttpTarget("devserver", dev_server))
    with layer_env(monkeypatch, DATABASE_POOL_SIZE="4"):  # each complete on its own connection
        session = send(api, make_image("PNG", (400, 300), noise=True))
        start = threading.Barrier(4)
        answers: list[HttpResponse] = []

        def complete() -> None:
            start.wait()
            answers.append(api.complete(session["upload_id"]))

        threads = [threading.Thread(target=complete) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [a.status for a in answers] == [201] * 4
    assert len({a.body for a in answers}) == 1  # every one got the same image
    [row] = stores.rows()
    assert stores.object_keys() == [row["object_key"]]
    assert [s["completed_at"] is not None for s in stores.upload_sessions()] == [True]


def test_s3_failing_while_the_checked_bytes_go_up_writes_no_row_and_keeps_the_file(
    stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(EventTarget())
    with cutting_proxy(services["S3_ENDPOINT_URL"]) as proxy:
        with layer_env(monkeypatch, S3_ENDPOINT_URL=proxy.url):
            session = send(api, PNG)
            # every write to images/ is reset, nothing else: the read of incoming/ goes through
            proxy.cut_marker = f"PUT /{services['S3_BUCKET']}/images/".encode()
            response = api.complete(session["upload_id"])
        assert proxy.cuts > 0
    assert response.status == 503 and response.header("retry-after") == "5"
    assert "object storage is unavailable" in json_of(response)["detail"]
    assert stores.rows() == []
    assert stores.object_keys() == [f"incoming/{session['upload_id']}"]  # left for a retry or reconcile
    retried = api.complete(session["upload_id"])  # the store is back
    assert retried.status == 201
    assert stores.object_keys() == [f"images/{json_of(retried)['id']}"]


def test_a_store_enforcing_the_signed_length_refuses_more_bytes(
    stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = Api(EventTarget())
    with (
        rclone_s3(tmp_path, buckets=(services["S3_BUCKET"],)) as endpoint,
        layer_env(monkeypatch, **endpoint.environment()),
    ):
        session = api.create_session_ok(description="d", filename="a.png", size_bytes=len(PNG))
        refused = put(session, PNG + b"\0" * 100)
        assert refused.status_code == 403
        early = api.complete(session["upload_id"])
        assert early.status == 409  # nothing reached the store
        assert put(session, PNG).status_code == 200
        done = api.complete(session["upload_id"])
        assert done.status == 201, done.body
        image = json_of(done)
        assert api.download(image["id"]).body == PNG
        assert sorted(p.name for p in (tmp_path / services["S3_BUCKET"]).rglob("*") if p.is_file()) == [
            image["id"]
        ]


def test_reconcile_removes_abandoned_sessions_and_their_files(
    stores: Stores, services: dict[str, str]
) -> None:
    from imageapi.store.reconcile import reconcile

    api = Api(EventTarget())
    abandoned = send(api, PNG)
    never_sent = api.create_session_ok(description="d", filename="a.png", size_bytes=10)
    current = send(api, make_image("GIF"))
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:  # two sessions expire
        conn.execute(
            "UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE id = ANY(%s)",
            ([abandoned["upload_id"], never_sent["upload_id"]],),
        )
    dry = reconcile(apply=False, grace=timedelta(0))
    assert sorted(dry.expired_upload_sessions) == sorted([abandoned["upload_id"], never_sent["upload_id"]])
    assert dry.incoming_objects_without_sessions == [f"incoming/{abandoned['upload_id']}"]
    assert len(stores.upload_sessions()) == 3 and len(stores.object_keys()) == 2  # a dry run deletes nothing

    reconcile(apply=True, grace=timedelta(0))
    assert [str(s["id"]) for s in stores.upload_sessions()] == [current["upload_id"]]
    assert stores.object_keys() == [f"incoming/{current['upload_id']}"]  # the open session keeps its file
    assert api.complete(current["upload_id"]).status == 201


def test_presigned_urls_are_signed_for_the_public_endpoint(
    stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The functions reach the store at 127.0.0.1, clients at localhost (minio:9000 vs localhost:9000).
    public = services["S3_ENDPOINT_URL"].replace("127.0.0.1", "localhost")
    api = Api(EventTarget())
    with layer_env(monkeypatch, S3_PUBLIC_ENDPOINT_URL=public):
        session = api.create_session_ok(description="d", filename="a.png", size_bytes=len(PNG))
        assert session["upload"]["url"].startswith(f"{public}/")
        assert put(session, PNG).status_code == 200
        assert api.complete(session["upload_id"]).status == 201


def test_s3_down_when_completing_is_503_and_keeps_the_session(
    stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(EventTarget())
    session = send(api, PNG)
    with cutting_proxy(services["S3_ENDPOINT_URL"]) as proxy:
        closed = proxy.url
    with layer_env(monkeypatch, S3_ENDPOINT_URL=closed):  # nothing listens there any more
        response = api.complete(session["upload_id"])
    assert response.status == 503 and response.header("retry-after") == "5"
    assert stores.rows() == [] and len(stores.upload_sessions()) == 1
    assert stores.object_keys() == [f"incoming/{session['upload_id']}"]
    assert api.complete(session["upload_id"]).status == 201
