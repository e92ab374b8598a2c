"""Downloads speak HTTP as RFC 9110 says: HEAD, If-None-Match (weak comparison and `*`), single
byte ranges with If-Range, on every target (dev server, handler events, gateway emulator)."""

from __future__ import annotations

import hashlib

import pytest

from local.apigw import HttpResponse
from tests.conftest import Stores
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image
from tests.support.targets import Target


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


@pytest.fixture
def uploaded(api: Api) -> tuple[dict[str, str], bytes]:
    data = make_image("JPEG", (300, 200), noise=True)
    return api.upload_ok(data, content_type="image/jpeg"), data


def fetch(api: Api, method: str, image_id: str, **headers: str) -> HttpResponse:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    return api.target.request(method, f"{IMAGES}{image_id}/file", headers=sent)


def test_get_says_it_accepts_ranges(api: Api, uploaded: tuple[dict[str, str], bytes]) -> None:
    image, data = uploaded
    response = fetch(api, "GET", image["id"])
    assert (response.status, response.body) == (200, data)
    assert response.header("accept-ranges") == "bytes"
    assert response.header("content-range") is None


def test_head_answers_like_get_without_a_body(api: Api, uploaded: tuple[dict[str, str], bytes]) -> None:
    image, data = uploaded
    get, head = fetch(api, "GET", image["id"]), fetch(api, "HEAD", image["id"])
    assert head.status == 200
    assert head.body == b""
    names = (
        "content-type",
        "content-length",
        "etag",
        "content-disposition",
        "accept-ranges",
        "cache-control",
    )
    assert {n: head.header(n) for n in names} == {n: get.header(n) for n in names}
    assert head.header("content-length") == str(len(data))


def test_head_of_an_unknown_image_is_404(api: Api, stores: Stores) -> None:
    assert fetch(api, "HEAD", "11111111-1111-4111-8111-111111111111").status == 404


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("tag", ['W/"{sha}"', '"{sha}"', "*", '"other", W/"{sha}"'])
def test_if_none_match_weak_strong_and_star_give_304(
    api: Api, uploaded: tuple[dict[str, str], bytes], method: str, tag: str
) -> None:
    image, _ = uploaded
    response = fetch(api, method, image["id"], if_none_match=tag.format(sha=image["sha256"]))
    assert response.status == 304
    assert response.body == b""
    assert response.header("etag") == f'"{image["sha256"]}"'


def test_if_none_match_with_another_tag_sends_the_file(
    api: Api, uploaded: tuple[dict[str, str], bytes]
) -> None:
    image, data = uploaded
    response = fetch(api, "GET", image["id"], if_none_match=f'W/"{"0" * 64}"')
    assert (response.status, response.body) == (200, data)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-10", 10, 10)],
    ids=["first 100", "from 100", "last 50", "one byte"],
)
def test_a_single_range_is_206_with_content_range(
    api: Api, uploaded: tuple[dict[str, str], bytes], header: str, first: int, last: int | None
) -> None:
    image, data = uploaded
    expected = data[first:] if last is None else data[first : last + 1]
    start = first % len(data)
    response = fetch(api, "GET", image["id"], range=header)
    assert response.status == 206
    assert response.body == expected
    assert response.header("content-range") == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"
    assert response.header("content-length") == str(len(expected))
    assert response.header("etag") == f'"{image["sha256"]}"'


def test_a_range_past_the_end_is_clamped(api: Api, uploaded: tuple[dict[str, str], bytes]) -> None:
    image, data = uploaded
    response = fetch(api, "GET", image["id"], range=f"bytes={len(data) - 5}-{len(data) * 2}")
    assert (response.status, response.body) == (206, data[-5:])


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{more}", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(api: Api, uploaded: tuple[dict[str, str], bytes], header: str) -> None:
    image, data = uploaded
    response = fetch(api, "GET", image["id"], range=header.format(size=len(data), more=len(data) + 9))
    assert response.status == 416
    assert response.header("content-range") == f"bytes */{len(data)}"
    assert json_of(response) == {"detail": f"Range not satisfiable: the file has {len(data)} bytes"}


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-5", "bytes=9-3", "bytes=abc"])
def test_ranges_this_server_does_not_serve_get_the_whole_file(
    api: Api, uploaded: tuple[dict[str, str], bytes], header: str
) -> None:
    image, data = uploaded
    response = fetch(api, "GET", image["id"], range=header)
    assert (response.status, response.body) == (200, data)


def test_if_range_with_the_current_etag_gets_the_range(
    api: Api, uploaded: tuple[dict[str, str], bytes]
) -> None:
    image, data = uploaded
    response = fetch(api, "GET", image["id"], range="bytes=0-9", if_range=f'"{image["sha256"]}"')
    assert (response.status, response.body) == (206, data[:10])


@pytest.mark.parametrize("if_range", ['"{other}"', 'W/"{sha}"', "Tue, 01 Dec 2026 00:00:00 GMT"])
def test_if_range_naming_another_version_gets_the_whole_file(
    api: Api, uploaded: tuple[dict[str, str], bytes], if_range: str
) -> None:
    image, data = uploaded
    tag = if_range.format(other="0" * 64, sha=image["sha256"])  # a weak tag never matches If-Range
    response = fetch(api, "GET", image["id"], range="bytes=0-9", if_range=tag)
    assert (response.status, response.body) == (200, data)
    assert hashlib.sha256(response.body).hexdigest() == image["sha256"]


def test_head_ignores_range(api: Api, uploaded: tuple[dict[str, str], bytes]) -> None:
    image, data = uploaded
    response = fetch(api, "HEAD", image["id"], range="bytes=0-9")
    assert (response.status, response.header("content-length"), response.body) == (200, str(len(data)), b"")
