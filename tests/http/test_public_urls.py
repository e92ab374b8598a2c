"""The URLs the API returns (download_url, Location, next): never where a forged header points,
and under the base path the API is published at."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Stores
from tests.functions.test_handlers import invoke
from tests.support.api import IMAGES, Api, json_of
from tests.support.events import body_bytes, load_event
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.multipart import upload_body
from tests.support.targets import HttpTarget, Target

FORGED = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "https", "forwarded": "host=evil.example"}


def returned_urls(api: Api, headers: dict[str, str]) -> list[str]:
    """Location and download_url of an upload, and next of a listing, all sent with headers."""
    body, content_type = upload_body(make_image("PNG"))
    created = api.target.request("POST", IMAGES, headers={**headers, "content-type": content_type}, body=body)
    assert created.status == 201, created.body
    api.upload_ok(make_image("PNG"))
    listing = api.target.request("GET", f"{IMAGES}?limit=1", headers=headers)
    assert listing.status == 200
    got = api.target.request("GET", f"{IMAGES}{json_of(created)['id']}", headers=headers)
    return [
        created.header("location") or "",
        json_of(created)["download_url"],
        json_of(listing)["next"],
        json_of(got)["download_url"],
    ]


def test_forwarded_headers_from_a_client_are_ignored(target: Target, stores: Stores) -> None:
    urls = returned_urls(Api(target), FORGED)
    assert all("evil.example" not in url for url in urls), urls
    own = target.base_url if isinstance(target, HttpTarget) else "https://abc123.execute-api."
    assert all(url.startswith(own) for url in urls), urls


@pytest.fixture
def trusted_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with layer_env(monkeypatch, TRUST_PROXY_HEADERS="true"):
        yield


def test_forwarded_headers_are_honoured_behind_a_trusted_proxy(
    dev_server: str, stores: Stores, trusted_proxy: None
) -> None:
    headers = {"x-forwarded-host": "images.example.org, inner.example", "x-forwarded-proto": "https"}
    urls = returned_urls(Api(HttpTarget("devserver", dev_server)), headers)
    assert all(url.startswith("https://images.example.org/api/v1/images/") for url in urls), urls


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_behind_api_gateway_the_event_domain_wins_over_any_header(
    stores: Stores, version: str, trusted_proxy: None
) -> None:
    """Even with TRUST_PROXY_HEADERS, a Host header cannot move URLs off requestContext.domainName;
    without it neither can X-Forwarded-Host (the test above, events target)."""
    event = load_event(f"upload_image.{version}")
    event["requestContext"]["domainName"] = "api.example.com"
    headers = event["headers"]
    for name in [n for n in headers if n.lower() == "host"]:
        headers[name] = "evil.example"
    result = invoke("upload_image", event)
    assert result["statusCode"] == 201, result
    assert json.loads(body_bytes(result))["download_url"].startswith("https://api.example.com/")


@pytest.fixture
def base_path_images(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with layer_env(monkeypatch, API_BASE_PATH="/images/"):
        yield


@pytest.mark.parametrize("server", ["dev_server", "gateway_server"])
def test_served_under_api_base_path(
    request: pytest.FixtureRequest, server: str, stores: Stores, base_path_images: None
) -> None:
    """The dev server as behind a reverse proxy that passes the prefix on; the gateway as an HTTP
    API custom domain whose mapping key it is. Requests carry the prefix, and so do URLs."""
    dev_server = request.getfixturevalue(server)
    api = Api(HttpTarget(server, dev_server))
    first, second = api.upload_ok(make_image("PNG")), api.upload_ok(make_image("PNG"))
    assert second["download_url"] == f"{dev_server}/images/api/v1/images/{second['id']}/file"
    with httpx.Client(base_url=dev_server, timeout=30) as client:
        page = client.get("/images/api/v1/images/", params={"limit": 1})
        assert page.status_code == 200
        assert page.json()["next"].startswith(f"{dev_server}/images/api/v1/images/?limit=1&cursor=")
        following = client.get(page.json()["next"].removeprefix(dev_server))
        assert [i["id"] for i in following.json()["items"]] == [first["id"]]
        file = client.get(f"/images/api/v1/images/{first['id']}/file")
        assert file.status_code == 200 and file.headers["etag"] == f'"{first["sha256"]}"'
