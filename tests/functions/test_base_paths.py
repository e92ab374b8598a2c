"""The API behind a base path, with events shaped as AWS documents them, edited from the
fixtures `sam local generate-event` gives (tests/events/):

- REST API (payload 1.0) on its execute-api domain: `path` lacks the stage, `requestContext.path`
  carries it (`/prod/...`): the fixtures as generated.
- REST API on a custom domain with the base-path mapping `images` to stage `prod`: API Gateway
  leaves the base path in both `path` and `requestContext.path` (`/images/api/v1/...`) and drops
  the stage; `resource` is the route; `domainName` and `Host` are the custom domain.
- HTTP API (payload 2.0) with a named stage `prod`: `rawPath` and `requestContext.http.path` start
  with `/prod`; `requestContext.stage` is `prod`.
- HTTP API custom domain with the API mapping key `images`: `rawPath` holds only the route, so
  the key comes from API_BASE_PATH.

Every URL the API returns (download_url, Location, next) must carry the prefix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Stores
from tests.functions.test_handlers import invoke
from tests.support.events import body_bytes, header, load_event
from tests.support.layer import layer_env

DOMAIN = "api.example.com"
EXECUTE_API = "1234567890.execute-api.us-east-1.amazonaws.com"


def on_execute_api(event: dict[str, Any]) -> dict[str, Any]:
    """The fixtures as generated, all on one API's domain."""
    if "httpMethod" in event:
        event["headers"]["Host"] = EXECUTE_API
        event["multiValueHeaders"]["Host"] = [EXECUTE_API]
    else:
        event["headers"]["host"] = EXECUTE_API
    event["requestContext"]["domainName"] = EXECUTE_API
    return event


def on_rest_custom_domain(event: dict[str, Any], base: str) -> dict[str, Any]:
    context = event["requestContext"]
    event["path"] = f"{base}{event['path']}"
    context["path"] = event["path"]  # the stage is not in it on a custom domain
    context["domainName"] = DOMAIN
    context["domainPrefix"] = "api"
    event["headers"]["Host"] = DOMAIN
    event["multiValueHeaders"]["Host"] = [DOMAIN]
    return event


def on_http_stage(event: dict[str, Any], stage: str) -> dict[str, Any]:
    event["rawPath"] = f"/{stage}{event['rawPath']}"
    event["requestContext"]["http"]["path"] = event["rawPath"]
    event["requestContext"]["stage"] = stage
    return event


def on_http_custom_domain(event: dict[str, Any], *, key_in_path: str = "") -> dict[str, Any]:
    event["requestContext"]["domainName"] = DOMAIN
    event["requestContext"]["domainPrefix"] = "api"
    event["headers"]["host"] = DOMAIN
    if key_in_path:
        event["rawPath"] = f"{key_in_path}{event['rawPath']}"
        event["requestContext"]["http"]["path"] = event["rawPath"]
    return event


def call(function: str, event: dict[str, Any], status: int = 200) -> dict[str, Any]:
    result = invoke(function, event)
    assert result["statusCode"] == status, result
    return result


def round_trip(version: str, shape: Any, origin: str) -> None:
    """Upload, get, list and download through events of this shape; every URL starts at origin."""
    created = call("upload_image", shape(load_event(f"upload_image.{version}")), 201)
    image = json.loads(body_bytes(created))
    image_url = f"{origin}/api/v1/images/{image['id']}"
    assert header(created, "location") == image_url
    assert image["download_url"] == f"{image_url}/file"
    call("upload_image", shape(load_event(f"upload_image.{version}")), 201)

    got = call("get_image", shape(load_event(f"get_image.{version}", image_id=image["id"])))
    assert json.loads(body_bytes(got))["download_url"] == f"{image_url}/file"

    page = json.loads(
        body_bytes(call("list_images", shape(load_event(f"list_images.{version}", query={"limit": "1"}))))
    )
    assert page["next"].startswith(f"{origin}/api/v1/images/?limit=1&cursor=")
    assert all(i["download_url"].startswith(f"{origin}/api/v1/images/") for i in page["items"])

    file = call("download_image", shape(load_event(f"download_image.{version}", image_id=image["id"])))
    assert header(file, "etag") == f'"{image["sha256"]}"'


def test_rest_api_on_its_execute_api_domain_keeps_the_stage(stores: Stores) -> None:
    round_trip("v1", on_execute_api, f"https://{EXECUTE_API}/prod")


def test_rest_api_under_a_base_path_mapping(stores: Stores) -> None:
    round_trip("v1", lambda e: on_rest_custom_domain(e, "/images"), f"https://{DOMAIN}/images")


def test_rest_api_under_a_two_segment_base_path_mapping(stores: Stores) -> None:
    round_trip("v1", lambda e: on_rest_custom_domain(e, "/media/v2"), f"https://{DOMAIN}/media/v2")


def test_http_api_with_a_named_stage(stores: Stores) -> None:
    round_trip(
        "v2", lambda e: on_http_stage(e, "prod"), "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
    )


@pytest.fixture
def base_path_images(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with layer_env(monkeypatch, API_BASE_PATH="/images"):
        yield


def test_http_api_custom_domain_mapping_key_from_api_base_path(
    stores: Stores, base_path_images: None
) -> None:
    round_trip("v2", on_http_custom_domain, f"https://{DOMAIN}/images")


def test_api_base_path_is_stripped_when_the_path_carries_it(stores: Stores, base_path_images: None) -> None:
    round_trip("v2", lambda e: on_http_custom_domain(e, key_in_path="/images"), f"https://{DOMAIN}/images")


def test_http_api_mapping_key_left_in_the_path_is_found_without_settings(stores: Stores) -> None:
    round_trip("v2", lambda e: on_http_custom_domain(e, key_in_path="/images"), f"https://{DOMAIN}/images")
