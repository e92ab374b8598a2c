"""Idempotency-Key on the three writes, on every target: a retry of the same request gets the first
outcome and writes nothing more; the same key with another request is a 422; a key still held is
a 409; a malformed key is a 400."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.conftest import Stores
from tests.http.test_upload_sessions import PNG, put, send
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.targets import Target

JPEG = make_image("JPEG", (120, 80), noise=True)


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def test_a_repeated_upload_returns_the_first_image_and_stores_one(api: Api, stores: Stores) -> None:
    headers = key()
    first = api.with_headers(headers).upload(JPEG, description="Dunes")
    again = api.with_headers(headers).upload(JPEG, description="Dunes")
    assert first.status == again.status == 201
    assert again.body == first.body
    assert again.header("location") == first.header("location")
    assert again.header("idempotent-replayed") == "true" and first.header("idempotent-replayed") is None
    [row] = stores.rows()
    assert stores.object_keys() == [row["object_key"]]


def test_without_a_key_each_upload_is_a_new_image(api: Api, stores: Stores) -> None:
    api.upload_ok(JPEG)
    api.upload_ok(JPEG)
    assert len(stores.rows()) == 2


@pytest.mark.parametrize(
    "change",
    [{"description": "Another"}, {"filename": "other.jpg"}, {"data": make_image("JPEG", (121, 80))}],
    ids=["description", "filename", "file"],
)
def test_the_same_key_for_another_upload_is_422(api: Api, stores: Stores, change: dict[str, object]) -> None:
    headers = key()
    api.with_headers(headers).upload(JPEG, description="Dunes", filename="a.jpg")
    form: dict[str, str] = {"description": "Dunes", "filename": "a.jpg"}
    data = change.get("data", JPEG)
    assert isinstance(data, bytes)
    form.update({k: str(v) for k, v in change.items() if k != "data"})
    response = api.with_headers(headers).upload(data, **form)
    assert response.status == 422
    assert "Idempotency-Key was already used for a different request" in json_of(response)["detail"]
    assert len(stores.rows()) == 1 and len(stores.object_keys()) == 1


def test_a_refused_upload_is_not_recorded(api: Api, stores: Stores) -> None:
    headers = key()
    refused = api.with_headers(headers).upload(b"not an image at all")
    assert refused.status == 415
    accepted = api.with_headers(headers).upload(JPEG)  # the key is free again: nothing was recorded
    assert accepted.status == 201
    assert len(stores.rows()) == 1


def test_a_repeated_session_create_returns_the_first_session(api: Api, stores: Stores) -> None:
    headers = key()
    fields = {"description": "d", "filename": "a.png", "size_bytes": len(PNG)}
    first = api.with_headers(headers).create_session(**fields)
    again = api.with_headers(headers).create_session(**fields)
    assert first.status == again.status == 201
    assert json_of(again)["upload_id"] == json_of(first)["upload_id"]
    assert len(stores.upload_sessions()) == 1
    other = api.with_headers(headers).create_session(**{**fields, "size_bytes": len(PNG) + 1})
    assert other.status == 422


def test_a_repeated_complete_replays_its_refusal_and_its_success(api: Api, stores: Stores) -> None:
    refused = send(api, b"GIF89a" + b"\0" * 50)
    headers = key()
    first = api.with_headers(headers).complete(refused["upload_id"])
    assert first.status in (415, 422)
    again = api.with_headers(headers).complete(
        refused["upload_id"]
    )  # the session is gone: 404 without the key
    assert (again.status, again.body) == (first.status, first.body)
    assert again.header("idempotent-replayed") == "true"

    session = send(api, PNG)
    headers = key()
    done = api.with_headers(headers).complete(session["upload_id"])
    assert done.status == 201
    assert api.with_headers(headers).complete(session["upload_id"]).body == done.body
    other = api.with_headers(headers).complete(refused["upload_id"])  # the same key, another upload
    assert other.status == 422


def test_a_key_still_in_use_is_409(api: Api, stores: Stores) -> None:
    headers = key()
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (route, key, resource_id, state, lease_owner, lease_expires_at)"
            " VALUES ('POST /api/v1/images/', %s, %s, 'processing', %s, now() + interval '1 minute')",
            (headers["Idempotency-Key"].strip('"'), uuid.uuid4(), uuid.uuid4()),
        )
    response = api.with_headers(headers).upload(JPEG)
    assert response.status == 409 and response.header("retry-after") == "2"
    assert "still being processed" in json_of(response)["detail"]
    stores.assert_empty()


def test_a_key_whose_holder_died_is_taken_over_with_its_image_id(api: Api, stores: Stores) -> None:
    headers, image_id = key(), uuid.uuid4()
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (route, key, resource_id, state, lease_owner, lease_expires_at)"
            " VALUES ('POST /api/v1/images/', %s, %s, 'processing', %s, now() - interval '1 second')",
            (headers["Idempotency-Key"].strip('"'), image_id, uuid.uuid4()),
        )
    created = api.with_headers(headers).upload(JPEG)
    assert created.status == 201
    assert json_of(created)["id"] == str(image_id)


@pytest.mark.parametrize("value", ["", '""', "x" * 256, "two words"])
def test_a_malformed_key_is_400(api: Api, stores: Stores, value: str) -> None:
    response = api.with_headers({"Idempotency-Key": value}).upload(JPEG)
    assert response.status == 400
    assert "Idempotency-Key" in json_of(response)["detail"]
    stores.assert_empty()


def test_a_session_put_then_completed_under_a_key_is_one_image(api: Api, stores: Stores) -> None:
    headers = key()
    session = api.create_session_ok(description="d", filename="a.png", size_bytes=len(PNG))
    assert put(session, PNG).status_code == 200
    early = api.with_headers(headers).complete(session["upload_id"])
    assert early.status == 201
    assert len(stores.rows()) == 1


def test_a_key_taken_over_after_its_image_was_stored_never_overwrites_it(api: Api, stores: Stores) -> None:
    stored = api.upload_ok(JPEG, description="Dunes")  # the first holder stored this, then died
    headers = key()
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (route, key, resource_id, state, lease_owner, lease_expires_at)"
            " VALUES ('POST /api/v1/images/', %s, %s, 'processing', %s, now() - interval '1 second')",
            (headers["Idempotency-Key"].strip('"'), stored["id"], uuid.uuid4()),
        )
    keyed = api.with_headers(headers)
    other = keyed.upload(make_image("JPEG", (121, 80)), description="Dunes")
    assert other.status == 422, other.body
    assert api.download(stored["id"]).body == JPEG  # the stored file was not written over
    same = keyed.upload(JPEG, description="Dunes")
    assert same.status == 201 and json_of(same)["id"] == stored["id"]
    assert len(stores.rows()) == 1 and len(stores.object_keys()) == 1
