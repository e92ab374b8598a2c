"""A row INSERT whose outcome the upload cannot hear (the reply lost, the connection cut, the
reconnect refused), as an RDS failover or a network cut at commit time does it, through a real
proxy in front of the real PostgreSQL and one reused connection, as on Lambda. An image whose
row committed never loses its file."""

from __future__ import annotations

import hashlib

import pytest

from local.apigw import HttpResponse
from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.faults import PostgresProxy
from tests.support.images import make_image
from tests.support.targets import EventTarget

INSERT = b"INSERT INTO images"


@pytest.fixture
def api(proxy: PostgresProxy, stores: Stores) -> Api:
    """The handler called with events: one connection, reused, opened through the proxy now."""
    api = Api(EventTarget())
    api.upload_ok(make_image("PNG"))
    stores.clear()
    return api


def assert_unavailable(response: HttpResponse) -> None:
    assert response.status == 503, response.body
    assert response.header("retry-after") == "5"
    assert "database is unavailable" in json_of(response)["detail"]


def test_a_committed_row_whose_reply_was_lost_keeps_its_object(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    data = make_image("JPEG", (300, 200), noise=True)
    proxy.drop_reply_to, proxy.refusing = INSERT, True
    response = api.upload(data)
    assert proxy.replies_dropped == 1 and proxy.refused >= 2  # the retry and the outcome checks
    assert_unavailable(response)
    proxy.refusing = False

    [row] = stores.rows()  # the INSERT had committed, once
    assert stores.object_keys() == [row["object_key"]]  # and its file was kept
    image_id = str(row["id"])
    assert [i["id"] for i in json_of(api.list())["items"]] == [image_id]
    assert json_of(api.get(image_id))["sha256"] == hashlib.sha256(data).hexdigest()
    downloaded = api.download(image_id)
    assert downloaded.status == 200 and downloaded.body == data


def test_a_retry_after_a_lost_reply_finds_the_row_instead_of_a_second_one(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    data = make_image("PNG", noise=True)
    proxy.drop_reply_to = INSERT
    created = api.upload_ok(data)  # the reconnect's INSERT ... ON CONFLICT finds the first row
    assert proxy.replies_dropped == 1
    [row] = stores.rows()
    assert str(row["id"]) == created["id"]
    assert api.download(created["id"]).body == data


def test_a_lost_reply_with_the_retry_refused_is_answered_by_the_outcome_check(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    data = make_image("GIF")
    proxy.drop_reply_to, proxy.refuse_next = INSERT, 1  # the retry is refused, the check is not
    created = api.upload_ok(data)
    assert proxy.replies_dropped == 1 and proxy.refused == 1
    [row] = stores.rows()
    assert str(row["id"]) == created["id"] and stores.object_keys() == [row["object_key"]]


def test_an_insert_that_never_reached_the_server_removes_the_object(
    api: Api, proxy: PostgresProxy, stores: Stores
) -> None:
    proxy.drop_request_with, proxy.refuse_next = INSERT, 1
    response = api.upload(make_image("PNG"))
    assert proxy.requests_dropped == 1
    assert_unavailable(response)
    stores.assert_empty()  # the check saw no row once the INSERT's server process had ended
