"""PATCH /api/v1/images/{id} edits the description, and the metadata's ETag guards it against lost
updates (If-Match, If-Unmodified-Since: 412), on every target (dev server, events, gateway)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.apigw import HttpResponse
from tests.conftest import Stores
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import Target

UNKNOWN_ID = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


@pytest.fixture
def image(api: Api) -> dict[str, Any]:
    return api.upload_ok(make_image("PNG"), description="before")


def etag_of(response: HttpResponse) -> str:
    etag = response.header("etag")
    assert etag is not None and etag.startswith('"'), response.headers  # strong: If-Match can name it
    return etag


def test_patch_edits_the_description_and_answers_what_get_answers(
    api: Api, stores: Stores, image: dict[str, Any]
) -> None:
    before = api.get(image["id"])
    response = api.patch(image["id"], {"description": "  Sunset over the Spree  "})
    assert response.status == 200, response.body
    edited = json_of(response)
    assert edited == {**image, "description": "Sunset over the Spree"}  # trimmed, as upload does
    after = api.get(image["id"])
    assert json_of(after) == edited
    assert etag_of(response) == etag_of(after) != etag_of(before)
    assert response.header("last-modified") == after.header("last-modified")
    [row] = stores.rows()
    assert (row["description"], row["version"]) == ("Sunset over the Spree", 2)
    assert row["updated_at"] >= row["created_at"]


def test_get_answers_an_etag_and_304_for_it(api: Api, image: dict[str, Any]) -> None:
    first = api.get(image["id"])
    assert first.header("last-modified") and first.header("cache-control") == "private, no-cache"
    etag = etag_of(first)
    for sent in (etag, f"W/{etag}", "*", f'"other", {etag}'):
        again = api.target.request("GET", f"{IMAGES}{image['id']}", headers={"if-none-match": sent})
        assert (again.status, again.body, again.header("etag")) == (304, b"", etag), sent
    assert api.patch(image["id"], {"description": "after"}).status == 200
    changed = api.target.request("GET", f"{IMAGES}{image['id']}", headers={"if-none-match": etag})
    assert changed.status == 200 and json_of(changed)["description"] == "after"


def test_if_match_with_the_current_etag_edits(api: Api, image: dict[str, Any]) -> None:
    etag = etag_of(api.get(image["id"]))
    response = api.patch(image["id"], {"description": "after"}, headers={"if-match": etag})
    assert response.status == 200, response.body
    assert api.patch(image["id"], {"description": "again"}, headers={"if-match": "*"}).status == 200


def test_two_clients_editing_one_read_lose_nothing(api: Api, stores: Stores, image: dict[str, Any]) -> None:
    """Both read the same ETag; both PATCH: one edit is stored, the other answered 412."""
    etag = etag_of(api.get(image["id"]))
    alice = api.patch(image["id"], {"description": "Alice's"}, headers={"if-match": etag})
    bob = api.patch(image["id"], {"description": "Bob's"}, headers={"if-match": etag})
    assert (alice.status, bob.status) == (200, 412)
    assert json_of(bob)["detail"].startswith("Precondition failed")
    assert bob.header("etag") == etag_of(alice)  # what to read again
    assert json_of(api.get(image["id"]))["description"] == "Alice's"
    assert [r["description"] for r in stores.rows()] == ["Alice's"]


def test_concurrent_edits_from_one_read_let_exactly_one_through(
    api: Api, stores: Stores, image: dict[str, Any]
) -> None:
    etag = etag_of(api.get(image["id"]))
    clients = 6
    start = threading.Barrier(clients)

    def edit(n: int) -> HttpResponse:
        # Each thread plays one Lambda instance: Mangum runs the request on the thread's loop.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            start.wait()
            return api.patch(image["id"], {"description": f"client {n}"}, headers={"if-match": etag})
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    with ThreadPoolExecutor(clients) as pool:
        responses = list(pool.map(edit, range(clients)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] + [412] * (clients - 1)
    [winner] = [json_of(r)["description"] for r in responses if r.status == 200]
    [row] = stores.rows()
    assert (row["description"], row["version"]) == (winner, 2)


@pytest.mark.parametrize("sent", ['"v99"', 'W/"{etag}"', '"wrong"', "{etag}x"])
def test_if_match_naming_another_version_is_412_and_stores_nothing(
    api: Api, stores: Stores, image: dict[str, Any], sent: str
) -> None:
    etag = etag_of(api.get(image["id"]))
    response = api.patch(image["id"], {"description": "after"}, headers={"if-match": sent.format(etag=etag)})
    assert response.status == 412
    assert [(r["description"], r["version"]) for r in stores.rows()] == [("before", 1)]


def test_if_unmodified_since(api: Api, stores: Stores, image: dict[str, Any]) -> None:
    last_modified = api.get(image["id"]).header("last-modified")
    assert last_modified is not None
    old = api.patch(
        image["id"], {"description": "x"}, headers={"if-unmodified-since": "Sat, 01 Jan 2000 00:00:00 GMT"}
    )
    assert old.status == 412
    # A date that is not one is ignored (RFC 9110): the edit goes through.
    assert api.patch(image["id"], {"description": "a"}, headers={"if-unmodified-since": "soon"}).status == 200
    # If-Match decides when both are sent.
    etag = etag_of(api.get(image["id"]))
    both = {"if-match": etag, "if-unmodified-since": "Sat, 01 Jan 2000 00:00:00 GMT"}
    assert api.patch(image["id"], {"description": "b"}, headers=both).status == 200
    current = api.get(image["id"]).header("last-modified")
    assert current is not None
    ok = api.patch(image["id"], {"description": "c"}, headers={"if-unmodified-since": current})
    assert ok.status == 200, ok.body
    assert [r["description"] for r in stores.rows()] == ["c"]


@pytest.mark.parametrize(
    "body",
    [
        {"description": 123},
        {"description": None},
        {"description": ["a"]},
        {"description": True},
        {},
        {"description": "ok", "filename": "x.png"},
        {"description": ""},
        {"description": "   "},
        {"description": "a" * 1001},
        {"description": "bell\x07"},
        b"{not json",
        b"[]",
    ],
    ids=[
        "number",
        "null",
        "list",
        "bool",
        "missing",
        "extra field",
        "empty",
        "blank",
        "too long",
        "control character",
        "not json",
        "not an object",
    ],
)
def test_invalid_bodies_are_422_and_store_nothing(
    api: Api, stores: Stores, image: dict[str, Any], body: object
) -> None:
    response = api.patch(image["id"], body)
    assert response.status == 422, response.body
    assert json_of(response)["detail"]
    assert [(r["description"], r["version"]) for r in stores.rows()] == [("before", 1)]


def test_the_longest_description_after_normalising_is_accepted(api: Api, image: dict[str, Any]) -> None:
    response = api.patch(image["id"], {"description": "é" * 1000})
    assert response.status == 200 and json_of(response)["description"] == "é" * 1000


def test_unknown_and_malformed_ids(api: Api, stores: Stores) -> None:
    assert api.patch(UNKNOWN_ID, {"description": "x"}).status == 404
    assert api.patch(UNKNOWN_ID, {"description": "x"}, headers={"if-match": "*"}).status == 404
    assert api.patch(UNKNOWN_ID, {"description": "x"}, headers={"if-match": '"v1"'}).status == 404
    assert api.patch("not-a-uuid", {"description": "x"}).status == 422


def test_one_etag_never_names_two_bodies(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The links in the body name the host, so a tag served for one host is no 304 for another;
    an edit still counts the version alone."""
    image = api.upload_ok(make_image("PNG", (8, 8)), description="first")
    first = api.target.request("GET", f"{IMAGES}{image['id']}")
    tag = first.header("etag")
    with layer_env(monkeypatch, PUBLIC_BASE_URL="https://images.example.com"):
        other = api.target.request("GET", f"{IMAGES}{image['id']}", headers={"if-none-match": tag or ""})
        assert other.status == 200 and other.header("etag") != tag
        assert json_of(other)["download_url"].startswith("https://images.example.com/")
        edited = api.patch(image["id"], {"description": "second"}, headers={"if-match": tag or ""})
    assert edited.status == 200, edited.body
    assert json_of(edited)["description"] == "second"
