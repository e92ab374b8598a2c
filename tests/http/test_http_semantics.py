"""HTTP semantics every route shares (RFC 9110), on every target (dev server, events, gateway):
HEAD wherever GET is served, preconditions on the file (412), case-insensitive range units."""

from __future__ import annotations

from typing import Any

import pytest

from local.apigw import HttpResponse
from tests.conftest import Stores
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import Target

# Headers that differ between any two responses, whatever their method.
PER_RESPONSE = {"x-request-id", "apigw-requestid", "date", "server"}
GET_ROUTES = ["/", IMAGES, IMAGES + "{id}", IMAGES + "{id}/file", IMAGES + "{id}/thumbnail?size=128"]
UNKNOWN_ID = "11111111-1111-4111-8111-111111111111"
OLD_DATE = "Sat, 01 Jan 2000 00:00:00 GMT"


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


@pytest.fixture
def uploaded(api: Api) -> tuple[dict[str, Any], bytes]:
    data = make_image("JPEG", (300, 200), noise=True)
    return api.upload_ok(data, content_type="image/jpeg"), data


def lasting_headers(response: HttpResponse) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers if k.lower() not in PER_RESPONSE}


def file_request(api: Api, method: str, image_id: str, **headers: str) -> HttpResponse:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    return api.target.request(method, f"{IMAGES}{image_id}/file", headers=sent)


@pytest.mark.parametrize("path", GET_ROUTES, ids=["gallery", "list", "metadata", "file", "thumbnail"])
def test_head_answers_what_get_answers_without_the_body(
    api: Api, uploaded: tuple[dict[str, Any], bytes], path: str
) -> None:
    image, _ = uploaded
    url = path.format(id=image["id"])
    get, head = api.target.request("GET", url), api.target.request("HEAD", url)
    assert get.status == 200 and get.body
    assert (head.status, head.body) == (200, b"")
    assert lasting_headers(head) == lasting_headers(get)
    assert head.header("content-length") == str(len(get.body))


@pytest.mark.parametrize("path", GET_ROUTES[2:], ids=["metadata", "file", "thumbnail"])
def test_head_of_an_unknown_image_is_404_without_a_body(api: Api, stores: Stores, path: str) -> None:
    url = path.format(id=UNKNOWN_ID)
    get, head = api.target.request("GET", url), api.target.request("HEAD", url)
    assert (get.status, head.status, head.body) == (404, 404, b"")
    assert head.header("content-length") == str(len(get.body))


def test_head_of_metadata_honours_if_none_match(api: Api, uploaded: tuple[dict[str, Any], bytes]) -> None:
    image, _ = uploaded
    etag = api.get(image["id"]).header("etag")
    assert etag
    head = api.target.request("HEAD", f"{IMAGES}{image['id']}", headers={"if-none-match": etag})
    assert (head.status, head.body, head.header("etag")) == (304, b"", etag)


def test_head_of_a_file_above_the_redirect_threshold_redirects_as_get_does(
    api: Api, uploaded: tuple[dict[str, Any], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    image, _ = uploaded
    with layer_env(monkeypatch, DOWNLOAD_REDIRECT_BYTES="1024"):
        get, head = file_request(api, "GET", image["id"]), file_request(api, "HEAD", image["id"])
    assert (get.status, head.status, head.body) == (307, 307, b"")
    assert head.header("cache-control") == get.header("cache-control") == "no-store"
    assert "X-Amz-Signature=" in (head.header("location") or "")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_file_if_match_with_the_etag_or_star_sends_the_file(
    api: Api, uploaded: tuple[dict[str, Any], bytes], method: str
) -> None:
    image, data = uploaded
    for tag in (f'"{image["sha256"]}"', "*", f'"other", "{image["sha256"]}"'):
        response = file_request(api, method, image["id"], if_match=tag)
        assert response.status == 200, tag
        assert response.body == (data if method == "GET" else b"")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("tag", ['"wrong"', 'W/"{sha}"', '"{other}"'])
def test_file_if_match_naming_another_tag_is_412(
    api: Api, uploaded: tuple[dict[str, Any], bytes], method: str, tag: str
) -> None:
    image, _ = uploaded
    sent = tag.format(sha=image["sha256"], other="0" * 64)  # a weak tag never matches If-Match
    response = file_request(api, method, image["id"], if_match=sent, range="bytes=0-9")
    assert response.status == 412
    if method == "GET":
        assert json_of(response)["detail"].startswith("Precondition failed")


def test_file_if_unmodified_since(api: Api, uploaded: tuple[dict[str, Any], bytes]) -> None:
    image, data = uploaded
    last_modified = file_request(api, "GET", image["id"]).header("last-modified")
    assert last_modified is not None
    assert file_request(api, "GET", image["id"], if_unmodified_since=OLD_DATE).status == 412
    fresh = file_request(api, "GET", image["id"], if_unmodified_since=last_modified)
    assert (fresh.status, fresh.body) == (200, data)
    ignored = file_request(api, "GET", image["id"], if_unmodified_since="not a date")
    assert ignored.status == 200
    # If-Match, when sent, decides alone (RFC 9110 13.2.2).
    both = file_request(
        api, "GET", image["id"], if_match=f'"{image["sha256"]}"', if_unmodified_since=OLD_DATE
    )
    assert both.status == 200


@pytest.mark.parametrize("unit", ["BYTES", "Bytes", "bytes"])
def test_range_units_are_case_insensitive(
    api: Api, uploaded: tuple[dict[str, Any], bytes], unit: str
) -> None:
    image, data = uploaded
    response = file_request(api, "GET", image["id"], range=f"{unit}=0-1")
    assert (response.status, response.body) == (206, data[:2])
    assert response.header("content-range") == f"bytes 0-1/{len(data)}"
