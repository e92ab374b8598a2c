"""Writes whose reply is lost, through a real proxy in front of the real PostgreSQL: the COMMIT of
a session's complete, the INSERT of a session, the DELETE of an image, and a retried upload under
an Idempotency-Key. Each runs through the Lambda handler (one reused connection) and through the
dev server (a pool). And a statement the server cancels: certainly not written, answered at once."""

from __future__ import annotations

import hashlib
import uuid

import psycopg
import pytest

from tests.conftest import Stores
from tests.http.test_upload_sessions import send
from tests.support.api import Api, json_of
from tests.support.faults import PostgresProxy
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import EventTarget, HttpTarget

PHOTO = make_image("PNG", (320, 240), noise=True)


@pytest.fixture(params=["handler", "devserver"])
def api(request: pytest.FixtureRequest, proxy: PostgresProxy, stores: Stores) -> Api:
    """The handler called with events (one connection, as on Lambda), or the dev server (a pool)."""
    if request.param == "handler":
        return Api(EventTarget())
    dev_server = request.getfixturevalue("dev_server")
    request.getfixturevalue("monkeypatch").setenv("DATABASE_POOL_SIZE", "2")
    return Api(HttpTarget("devserver", dev_server))


def test_a_lost_commit_reply_while_completing_keeps_the_published_file(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    session = send(api, PHOTO)
    proxy.drop_reply_to = b"COMMIT"  # the row and the session's completion commit; the client hears nothing
    response = api.complete(session["upload_id"])
    assert proxy.replies_dropped == 1
    assert response.status == 201, response.body  # the retry on a new connection finds the commit
    image = json_of(response)
    downloaded = api.download(image["id"])
    assert downloaded.status == 200 and downloaded.body == PHOTO
    [row] = stores.rows()
    assert stores.object_keys() == [row["object_key"]]  # the incoming file went, the image's stayed
    assert [s["state"] for s in stores.upload_sessions()] == ["completed"]
    assert api.complete(session["upload_id"]).status == 201


def test_a_lost_reply_to_creating_a_session_returns_the_session(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    # The insert commits in a transaction of its own (the per-owner limit's lock is held to it).
    proxy.drop_reply_to = b"COMMIT"
    response = api.create_session(description="d", filename="a.png", size_bytes=len(PHOTO))
    assert proxy.replies_dropped == 1
    assert response.status == 201, response.body
    [session] = stores.upload_sessions()
    assert str(session["id"]) == json_of(response)["upload_id"]


def test_a_delete_whose_reply_was_lost_leaves_nothing_in_the_bucket(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    image = api.upload_ok(PHOTO)
    assert api.thumbnail(image["id"]).status == 200
    assert len(stores.object_keys()) == 2  # the file and a thumbnail
    proxy.drop_reply_to = b"DELETE FROM images"
    response = api.delete(image["id"])
    assert proxy.replies_dropped == 1
    assert response.status == 404  # the retry found no row: the first attempt had deleted it
    assert stores.rows() == [] and stores.object_keys() == []


def test_a_retried_upload_whose_outcome_was_unknown_is_the_same_image(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    assert api.list().status == 200  # a connection is open: the key is claimed through it
    proxy.drop_reply_to, proxy.refusing = b"INSERT INTO images", True
    lost = api.with_headers(headers).upload(PHOTO)
    assert proxy.replies_dropped == 1
    # 201 where another pooled connection was open to retry on; 503 where none could ask whether
    # the row committed (the handler's one connection).
    assert lost.status in (201, 503), lost.body
    if isinstance(api.target, EventTarget):
        assert lost.status == 503
    [row] = stores.rows()  # it had, and its file was kept
    assert stores.object_keys() == [row["object_key"]]
    proxy.refusing = False
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        # The 503's holder could not give the key back either; its lease runs out (here: now).
        conn.execute("UPDATE idempotency_keys SET lease_expires_at = now() - interval '1 second'")
    retried = api.with_headers(headers).upload(PHOTO)
    assert retried.status == 201, retried.body
    assert json_of(retried)["id"] == str(row["id"])  # the key's image id: found, not made twice
    assert [r["id"] for r in stores.rows()] == [row["id"]]
    assert stores.object_keys() == [row["object_key"]]
    assert api.download(str(row["id"])).body == PHOTO
    assert api.with_headers(headers).upload(PHOTO).header("idempotent-replayed") == "true"


def test_a_cancelled_insert_is_certainly_not_written(
    proxy: PostgresProxy, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(EventTarget())
    with (
        layer_env(
            monkeypatch,
            DATABASE_URL=proxy.url,
            DATABASE_STATEMENT_TIMEOUT_MS="300",
            DATABASE_OUTCOME_CHECK_SECONDS="30",
        ),
        psycopg.connect(services["DATABASE_URL"]) as blocker,
    ):
        blocker.execute("LOCK TABLE images IN SHARE MODE")  # every INSERT waits, then is cancelled
        response = api.upload(PHOTO)
        blocker.rollback()
    assert response.status == 503, response.body
    # 57014: the server cancelled the statement and rolled it back. No outcome check waits for the
    # connection's own server process (which lives on): the object is removed at once.
    stores.assert_empty()
    assert hashlib.sha256(PHOTO).hexdigest()  # (the file itself was fine)
