"""The gateway in host mode and the dev server answer the same requests identically: status,
every header and every body byte, once the base URL and what differs per request (request ids,
dates) are normalised."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from imageapi.routes.images import METADATA_SCHEMA
from local.apigw import HttpResponse
from tests.conftest import Stores
from tests.http.test_bad_input import LIMIT, READ_CASES, UPLOAD_CASES, Case
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import HttpTarget

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
PER_REQUEST = {"x-request-id"}  # a value of its own on every response
GATEWAY_ONLY = {"apigw-requestid"}  # API Gateway's request id, which the dev server has no reason to send


@dataclass
class Pair:
    devserver: HttpTarget
    gateway: HttpTarget

    def both(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[HttpResponse, HttpResponse]:
        return (
            self.devserver.request(method, path, headers=headers, body=body),
            self.gateway.request(method, path, headers=headers, body=body),
        )

    def assert_same(
        self, first: HttpResponse, second: HttpResponse, *, ids: dict[str, str] | None = None
    ) -> None:
        assert first.status == second.status
        dev = normalised(first, self.devserver.base_url, ids or {})
        gateway = normalised(second, self.gateway.base_url, ids or {})
        assert dev == gateway


METADATA_TAG = re.compile(r'^"v(\d+)-[0-9a-f]{8}"$')


def _tag_for(base_url: str, version: str) -> str:
    """The metadata ETag this host's base URL makes for a version (routes/images.metadata_etag)."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{METADATA_SCHEMA}".encode()).hexdigest()[:8]
    return f'"v{version}-{digest}"'


def normalised(
    response: HttpResponse, base_url: str, ids: dict[str, str]
) -> tuple[int, list[tuple[str, str]], str | bytes]:
    """Status, sorted headers and body with the base URL, per-request ids and dates replaced."""

    def clean(text: str) -> str:
        text = text.replace(base_url, "<base>")
        for real, label in ids.items():
            text = text.replace(real, label)
        return ISO_TIME.sub("<time>", text)

    headers = []
    for name, value in response.headers:
        key = name.lower()
        if key in GATEWAY_ONLY or key == "date":
            continue
        tag = METADATA_TAG.match(value) if key == "etag" else None
        if tag and value == _tag_for(base_url, tag.group(1)):  # it names the host, as the body does
            value = f'"v{tag.group(1)}-<base>"'
        headers.append((key, "<request id>" if key in PER_REQUEST else clean(value)))
    content_type = response.header("content-type") or ""
    body: str | bytes = response.body if content_type.startswith("image/") else clean(response.body.decode())
    return response.status, sorted(headers), body


@pytest.fixture
def pair(dev_server: str, gateway_server: str, stores: Stores) -> Pair:
    return Pair(HttpTarget("devserver", dev_server), HttpTarget("gateway", gateway_server))


@pytest.fixture
def small_uploads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MAX_UPLOAD_BYTES as tests/http/test_bad_input.py sets it, for its upload cases."""
    with layer_env(monkeypatch, MAX_UPLOAD_BYTES=str(LIMIT)):
        yield


def send_both(pair: Pair, case: Case) -> tuple[HttpResponse, HttpResponse]:
    headers = dict(case.headers)
    if case.content_type:
        headers["content-type"] = case.content_type
    return pair.both(case.method, case.path, headers=headers, body=case.body)


def test_reads_are_identical(pair: Pair) -> None:
    images = [Api(pair.gateway).upload_ok(make_image(fmt, (40, 30))) for fmt in ("PNG", "JPEG", "GIF")]
    newest = images[-1]
    first_page = json_of(pair.gateway.request("GET", f"{IMAGES}?limit=2"))
    requests = [
        ("GET", IMAGES, {}),
        ("GET", IMAGES.rstrip("/"), {}),
        ("GET", f"{IMAGES}?limit=2", {}),
        ("GET", f"{IMAGES}?limit=2&cursor={first_page['next_cursor']}", {}),
        ("GET", f"{IMAGES}{newest['id']}", {}),
        ("GET", f"{IMAGES}{newest['id']}/", {}),
        ("GET", f"{IMAGES}{newest['id']}/file", {}),
        ("GET", f"{IMAGES}{newest['id']}/file", {"if-none-match": '"something else"'}),
    ]
    for method, path, headers in requests:
        pair.assert_same(*pair.both(method, path, headers=headers))


def test_not_modified_differs_only_by_the_content_type_mangum_adds(pair: Pair) -> None:
    image = Api(pair.gateway).upload_ok(make_image("PNG"))
    headers = {"if-none-match": f'"{image["sha256"]}"'}
    dev, gateway = pair.both("GET", f"{IMAGES}{image['id']}/file", headers=headers)
    assert (dev.status, gateway.status) == (304, 304)
    # Mangum gives every v2 result without a Content-Type "application/json", a 304 too; so does
    # Lambda behind a real HTTP API. It is the one header the targets differ by.
    assert (dev.header("content-type"), gateway.header("content-type")) == (None, "application/json")
    without = HttpResponse(
        304, [(k, v) for k, v in gateway.headers if k.lower() != "content-type"], gateway.body
    )
    pair.assert_same(dev, without)


@pytest.mark.parametrize("case", READ_CASES, ids=lambda c: c.name)
def test_bad_reads_are_identical(pair: Pair, case: Case) -> None:
    pair.assert_same(*send_both(pair, case))


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda c: c.name)
def test_bad_uploads_are_identical(pair: Pair, small_uploads: None, case: Case) -> None:
    dev, gateway = send_both(pair, case)
    assert 400 <= dev.status < 500
    pair.assert_same(dev, gateway)


def test_uploads_are_identical_but_for_their_ids(pair: Pair) -> None:
    data = make_image("WEBP", (64, 48))
    dev = Api(pair.devserver).upload(data, description="twice", filename="same.webp")
    gateway = Api(pair.gateway).upload(data, description="twice", filename="same.webp")
    assert (dev.status, gateway.status) == (201, 201)
    dev_id, gateway_id = json_of(dev)["id"], json_of(gateway)["id"]
    assert dev_id != gateway_id
    assert UUID.fullmatch(dev_id) and UUID.fullmatch(gateway_id)
    assert normalised(dev, pair.devserver.base_url, {dev_id: "<image>"}) == normalised(
        gateway, pair.gateway.base_url, {gateway_id: "<image>"}
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),
        ("GET", "/api/v2/images/"),
        ("DELETE", IMAGES),
        ("PUT", f"{IMAGES}x"),
        ("POST", f"{IMAGES}x/file"),
    ],
)
def test_no_route_answers_are_identical(pair: Pair, method: str, path: str) -> None:
    dev, gateway = pair.both(method, path)
    assert dev.status in (404, 405)
    pair.assert_same(dev, gateway)


def test_the_gallery_page_is_identical(pair: Pair) -> None:
    dev, gateway = pair.both("GET", "/")
    assert dev.status == 200 and b"<title>Image gallery</title>" in dev.body
    pair.assert_same(dev, gateway)


def test_the_gateway_adds_only_its_request_id(pair: Pair) -> None:
    dev, gateway = pair.both("GET", IMAGES)
    added = {k.lower() for k, _ in gateway.headers} - {k.lower() for k, _ in dev.headers}
    assert added == GATEWAY_ONLY
    assert gateway.header("x-request-id") != dev.header("x-request-id")
