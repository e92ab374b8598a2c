"""Each function's handler, called as Lambda calls it, with REST (v1) and HTTP API (v2) events."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from local.routes import load_handler, load_routes
from tests.conftest import Stores
from tests.support.events import body_bytes, header, load_event
from tests.support.targets import LambdaContext

VERSIONS = ["v1", "v2"]


ROUTES = {route.code_dir.name: route for route in load_routes()}  # template.yaml, read once


def invoke(function_dir: str, event: dict[str, Any]) -> dict[str, Any]:
    return load_handler(ROUTES[function_dir])(event, LambdaContext())


def uploaded_png(version: str) -> bytes:
    """The PNG inside the upload fixture's multipart body."""
    body = base64.b64decode(load_event(f"upload_image.{version}")["body"])
    start = body.index(b"\x89PNG")
    return body[start : body.index(b"\r\n--", start)]


def upload(version: str) -> dict[str, Any]:
    result = invoke("upload_image", load_event(f"upload_image.{version}"))
    assert result["statusCode"] == 201, result
    return json.loads(body_bytes(result))


@pytest.mark.parametrize("version", VERSIONS)
def test_upload_event_stores_the_image(version: str, stores: Stores) -> None:
    image = upload(version)
    png = uploaded_png(version)
    assert image["sha256"] == hashlib.sha256(png).hexdigest()
    assert image["size_bytes"] == len(png)
    assert (image["content_type"], image["width"], image["height"]) == ("image/png", 4, 3)
    assert image["description"] == "Sunset in Berlin"
    assert len(stores.rows()) == 1 and len(stores.object_keys()) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_download_url_is_the_api_own_never_s3(version: str, stores: Stores) -> None:
    image = upload(version)
    # REST APIs serve under a stage (/prod); HTTP APIs here use the $default stage.
    stage = "/prod" if version == "v1" else ""
    base = f"https://[0-9a-z]+.execute-api.us-east-1.amazonaws.com{stage}"
    assert re.fullmatch(f"{base}/api/v1/images/{image['id']}/file", image["download_url"])


@pytest.mark.parametrize("version", VERSIONS)
def test_get_event_returns_metadata(version: str, stores: Stores) -> None:
    image = upload(version)
    result = invoke("get_image", load_event(f"get_image.{version}", image_id=image["id"]))
    assert result["statusCode"] == 200
    assert json.loads(body_bytes(result)) == image


@pytest.mark.parametrize("version", VERSIONS)
def test_list_event_pages(version: str, stores: Stores) -> None:
    first, second = upload(version), upload(version)
    result = invoke("list_images", load_event(f"list_images.{version}", query={"limit": "1"}))
    assert result["statusCode"] == 200
    page = json.loads(body_bytes(result))
    assert [i["id"] for i in page["items"]] == [second["id"]]
    result = invoke(
        "list_images", load_event(f"list_images.{version}", query={"cursor": page["next_cursor"]})
    )
    assert [i["id"] for i in json.loads(body_bytes(result))["items"]] == [first["id"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_download_event_returns_base64_bytes(version: str, stores: Stores) -> None:
    image = upload(version)
    result = invoke("download_image", load_event(f"download_image.{version}", image_id=image["id"]))
    assert result["statusCode"] == 200
    assert result["isBase64Encoded"] is True
    data = body_bytes(result)
    assert data == uploaded_png(version)
    assert hashlib.sha256(data).hexdigest() == image["sha256"]
    assert header(result, "content-type") == "image/png"
    assert header(result, "etag") == f'"{image["sha256"]}"'


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_and_malformed_ids(version: str, stores: Stores) -> None:
    unknown = invoke(
        "get_image", load_event(f"get_image.{version}", image_id="11111111-1111-4111-8111-111111111111")
    )
    assert unknown["statusCode"] == 404
    assert json.loads(unknown["body"]) == {"detail": "Image not found"}
    malformed = invoke("download_image", load_event(f"download_image.{version}", image_id="not-a-uuid"))
    assert malformed["statusCode"] == 422
    assert json.loads(malformed["body"])["detail"][0]["loc"] == ["path", "image_id"]


@pytest.mark.parametrize("version", VERSIONS)
def test_upload_session_events_publish_the_image(version: str, stores: Stores) -> None:
    import httpx

    created = invoke("create_upload", load_event(f"create_upload.{version}"))
    assert created["statusCode"] == 201, created
    session = json.loads(body_bytes(created))
    stage = "/prod" if version == "v1" else ""  # the complete URL keeps the REST stage
    assert re.fullmatch(
        f"https://[0-9a-z]+.execute-api.us-east-1.amazonaws.com{stage}/api/v1/uploads/{session['upload_id']}/complete",
        session["complete_url"],
    )
    png = uploaded_png(version)
    upload = session["upload"]
    sent = {k: v for k, v in upload["headers"].items() if k != "Content-Length"}
    assert httpx.put(upload["url"], headers=sent, content=png).status_code == 200
    completed = invoke(
        "complete_upload", load_event(f"complete_upload.{version}", image_id=session["upload_id"])
    )
    assert completed["statusCode"] == 201, completed
    image = json.loads(body_bytes(completed))
    assert (image["sha256"], image["width"], image["height"]) == (hashlib.sha256(png).hexdigest(), 4, 3)
    assert header(completed, "location") == image["download_url"].removesuffix("/file")
    assert stores.object_keys() == [f"images/{image['id']}"]


@pytest.mark.parametrize("version", VERSIONS)
def test_thumbnail_event_returns_base64_webp(version: str, stores: Stores) -> None:
    image = upload(version)
    event = load_event(f"thumbnail.{version}", image_id=image["id"], query={"size": "128"})
    result = invoke("thumbnail", event)
    assert result["statusCode"] == 200, result
    assert result["isBase64Encoded"] is True
    assert body_bytes(result)[8:12] == b"WEBP"
    assert header(result, "content-type") == "image/webp"
    assert f"thumbnails/{image['id']}/128.webp" in stores.object_keys()


@pytest.mark.parametrize("version", VERSIONS)
def test_delete_event_answers_204_then_404(version: str, stores: Stores) -> None:
    image = upload(version)
    event = load_event(f"delete_image.{version}", image_id=image["id"])
    assert invoke("delete_image", event)["statusCode"] == 204
    assert stores.rows() == [] and stores.object_keys() == []
    again = invoke("delete_image", event)
    assert again["statusCode"] == 404 and json.loads(again["body"]) == {"detail": "Image not found"}


@pytest.mark.parametrize("version", VERSIONS)
def test_gallery_event_returns_the_page_as_text(version: str) -> None:
    result = invoke("gallery", load_event(f"gallery.{version}"))
    assert result["statusCode"] == 200
    assert result["isBase64Encoded"] is False  # text/html: Mangum sends it as text
    assert (
        header(
            result,
            "content-type",
        )
        == "text/html; charset=utf-8"
    )
    assert "<title>Image gallery</title>" in result["body"]


def with_header(event: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    """The event as API Gateway sends it with one more request header."""
    event["headers"][name] = value
    if event.get("version") != "2.0":
        event["multiValueHeaders"][name] = [value]
    return event


def as_head(event: dict[str, Any]) -> dict[str, Any]:
    """A GET event as its HEAD route (a route of its own on HTTP APIs) would send it."""
    if event.get("version") == "2.0":
        event["requestContext"]["http"]["method"] = "HEAD"
        event["routeKey"] = event["requestContext"]["routeKey"] = event["routeKey"].replace("GET", "HEAD", 1)
    else:
        event["httpMethod"] = event["requestContext"]["httpMethod"] = "HEAD"
    return event


@pytest.mark.parametrize("version", VERSIONS)
def test_update_event_edits_the_description_once_per_etag(version: str, stores: Stores) -> None:
    image = upload(version)
    got = invoke("get_image", load_event(f"get_image.{version}", image_id=image["id"]))
    etag = header(got, "etag")
    assert etag is not None
    event = with_header(load_event(f"update_image.{version}", image_id=image["id"]), "If-Match", etag)
    result = invoke("update_image", event)
    assert result["statusCode"] == 200, result
    assert json.loads(body_bytes(result)) == {**image, "description": "Sunset over the Spree"}
    assert header(result, "etag") not in (None, etag)
    again = invoke("update_image", event)  # the same ETag, now stale
    assert again["statusCode"] == 412
    assert header(again, "etag") == header(result, "etag")
    assert [r["description"] for r in stores.rows()] == ["Sunset over the Spree"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("function", ["gallery", "list_images", "get_image", "download_image", "thumbnail"])
def test_head_events_answer_the_get_headers_without_a_body(
    version: str, function: str, stores: Stores
) -> None:
    image = upload(version)
    query = {"size": "128"} if function == "thumbnail" else None
    get = invoke(function, load_event(f"{function}.{version}", image_id=image["id"], query=query))
    head = invoke(function, as_head(load_event(f"{function}.{version}", image_id=image["id"], query=query)))
    assert (get["statusCode"], head["statusCode"]) == (200, 200)
    assert body_bytes(get) and body_bytes(head) == b""
    assert header(head, "content-length") == str(len(body_bytes(get)))
    assert header(head, "content-type") == header(get, "content-type")
