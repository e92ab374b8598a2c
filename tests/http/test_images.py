"""The API's contract over HTTP, on every target: the dev server and the handlers with events."""

from __future__ import annotations

import hashlib
import uuid
import zlib
from datetime import datetime

import pytest

from tests.conftest import Stores
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image, png_declaring
from tests.support.targets import Target


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_upload_stores_file_and_metadata(api: Api, stores: Stores, fmt: str, content_type: str) -> None:
    data = make_image(fmt, (64, 48))
    response = api.upload(data, description="  Sunset in Berlin  ", filename="sunset.bin", content_type="x/y")

    assert response.status == 201
    image = json_of(response)
    assert image["description"] == "Sunset in Berlin"
    assert image["content_type"] == content_type  # sniffed, whatever the client claimed
    assert image["size_bytes"] == len(data)
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert (image["width"], image["height"]) == (64, 48)
    assert image["filename"].startswith("sunset.bin.")
    assert datetime.fromisoformat(image["created_at"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert image["download_url"].endswith(f"{IMAGES}{image['id']}/file")
    assert response.header("location") == image["download_url"].removesuffix("/file")
    [row] = stores.rows()
    assert str(row["id"]) == image["id"]
    assert stores.object_keys() == [row["object_key"]]
    assert image["id"] not in row["object_key"].replace(image["id"], "") and "sunset" not in row["object_key"]


def test_get_returns_the_uploaded_metadata(api: Api) -> None:
    image = api.upload_ok(make_image("PNG"), description="one")
    response = api.get(image["id"])
    assert response.status == 200
    assert json_of(response) == image


def test_download_is_byte_identical_with_headers(api: Api) -> None:
    data = make_image("JPEG", (300, 200), noise=True)
    image = api.upload_ok(data, filename="Straße & Co.jpg", content_type="image/jpeg")

    response = api.download(image["id"])

    assert response.status == 200
    assert response.body == data
    assert hashlib.sha256(response.body).hexdigest() == image["sha256"]
    assert response.header("content-type") == "image/jpeg"
    assert response.header("content-length") == str(len(data))
    assert response.header("etag") == f'"{image["sha256"]}"'
    assert response.header("x-content-type-options") == "nosniff"
    assert response.header("content-disposition") == (
        "attachment; filename=\"Stra_e & Co.jpg\"; filename*=UTF-8''Stra%C3%9Fe%20%26%20Co.jpg"
    )


def test_markup_like_bytes_in_pixel_data_do_not_refuse_an_image(api: Api) -> None:
    # Compressed pixels are random bytes: in a large photo, '<svg ' turns up by chance.
    data = png_declaring(64, 48, pixel_data=zlib.compress(b"\0" * 100) + b"<svg onload=alert(1)>")
    image = api.upload_ok(data)
    assert api.download(image["id"]).body == data


def test_download_answers_304_when_etag_matches(api: Api) -> None:
    image = api.upload_ok(make_image("GIF"))
    response = api.download(image["id"], headers={"if-none-match": f'"{image["sha256"]}"'})
    assert response.status == 304
    assert response.body == b""


def test_list_is_newest_first_and_paginates_with_cursor(api: Api) -> None:
    ids = [api.upload_ok(make_image("PNG"), description=f"image {i}")["id"] for i in range(5)]

    first = json_of(api.list("limit=2"))
    assert [i["id"] for i in first["items"]] == ids[::-1][:2]
    assert first["limit"] == 2
    assert first["next"].endswith(f"{IMAGES}?limit=2&cursor={first['next_cursor']}")

    api.upload_ok(make_image("PNG"), description="arrives while paging")  # must not shift pages
    second = json_of(api.list(f"limit=2&cursor={first['next_cursor']}"))
    third = json_of(api.list(f"limit=2&cursor={second['next_cursor']}"))
    assert [i["id"] for i in second["items"]] == ids[::-1][2:4]
    assert [i["id"] for i in third["items"]] == ids[::-1][4:]
    assert third["next_cursor"] is None and third["next"] is None


def test_list_defaults_to_20(api: Api) -> None:
    body = json_of(api.list())
    assert body == {"items": [], "limit": 20, "next_cursor": None, "next": None}


def test_unknown_id_is_404(api: Api) -> None:
    for response in (api.get(str(uuid.uuid4())), api.download(str(uuid.uuid4()))):
        assert response.status == 404
        assert json_of(response) == {"detail": "Image not found"}


def test_trailing_slash_is_ignored_as_api_gateway_does(api: Api) -> None:
    image = api.upload_ok(make_image("PNG"))
    assert api.target.request("GET", IMAGES.rstrip("/")).status == 200
    assert api.target.request("GET", f"{IMAGES}{image['id']}/").status == 200
