"""Upload sessions on every target: create, PUT straight to the real S3 endpoint, complete.
The file is checked as the multipart route checks a body; refused files leave nothing."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Stores
from tests.support import corpus
from tests.support.api import Api, json_of
from tests.support.images import SVG, make_image
from tests.support.layer import layer_env
from tests.support.targets import Target

PNG = make_image("PNG", (64, 48))
GIF = make_image("GIF")


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def put(session: dict[str, Any], data: bytes, *, headers: dict[str, str] | None = None) -> httpx.Response:
    """What a client does with the session: the returned method, URL and headers, nothing else."""
    upload = session["upload"]
    sent = {k: v for k, v in upload["headers"].items() if k.lower() != "content-length"}  # httpx sets it
    return httpx.request(upload["method"], upload["url"], headers={**sent, **(headers or {})}, content=data)


def send(api: Api, data: bytes, **fields: object) -> dict[str, Any]:
    """A session created for data (its size unless given) and the file PUT to the store."""
    session = api.create_session_ok(
        description=fields.pop("description", "A photo"),
        filename=fields.pop("filename", "photo.png"),
        size_bytes=fields.pop("size_bytes", len(data)),
        **fields,
    )
    assert put(session, data).status_code == 200
    return session


def test_round_trip(api: Api, stores: Stores) -> None:
    digest = hashlib.sha256(PNG).hexdigest()
    created = api.create_session(
        description="  Sunset  ",
        filename="sunset.png",
        size_bytes=len(PNG),
        sha256=digest,
        content_type="image/png",
    )
    assert created.status == 201
    session = json_of(created)
    assert session["upload"]["method"] == "PUT"
    assert session["upload"]["headers"] == {
        "Content-Type": "image/png",
        "Content-Length": str(len(PNG)),
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(PNG).digest()).decode(),
    }
    assert "X-Amz-Signature=" in session["upload"]["url"] and "/incoming/" in session["upload"]["url"]
    assert session["complete_url"].endswith(f"/api/v1/uploads/{session['upload_id']}/complete")
    assert put(session, PNG).status_code == 200
    assert stores.rows() == []  # nothing is published before complete

    response = api.complete(session["upload_id"])
    assert response.status == 201, response.body
    image = json_of(response)
    assert (image["description"], image["filename"], image["content_type"]) == (
        "Sunset",
        "sunset.png",
        "image/png",
    )
    assert (image["size_bytes"], image["sha256"], image["width"], image["height"]) == (
        len(PNG),
        digest,
        64,
        48,
    )
    assert response.header("location") == image["download_url"].removesuffix("/file")
    [row] = stores.rows()
    assert stores.object_keys() == [row["object_key"]] == [f"images/{image['id']}"]  # incoming/ is gone
    assert json_of(api.get(image["id"])) == image
    downloaded = api.download(image["id"])
    assert downloaded.status == 200 and downloaded.body == PNG

    again = api.complete(session["upload_id"])  # completing twice: the same image, still one row
    assert (again.status, json_of(again)) == (201, image)
    assert len(stores.rows()) == 1


REFUSED = [
    pytest.param(GIF[:-1] + b"<script>alert(1)</script>;", 415, "polyglot", id="GIF/HTML polyglot"),
    pytest.param(SVG, 415, "Unsupported file type", id="SVG"),
    pytest.param(PNG[: len(PNG) // 2], 422, "truncated", id="truncated PNG"),
]


@pytest.mark.parametrize(("data", "status", "detail"), REFUSED)
def test_refused_file_leaves_nothing(api: Api, stores: Stores, data: bytes, status: int, detail: str) -> None:
    session = send(api, data, filename="a.gif")
    response = api.complete(session["upload_id"])
    assert response.status == status, response.body
    assert detail in json_of(response)["detail"]
    stores.assert_empty()
    assert stores.upload_sessions() == []
    assert api.complete(session["upload_id"]).status == 404  # the refusal is final


def test_size_other_than_declared_is_refused(api: Api, stores: Stores) -> None:
    session = api.create_session_ok(description="d", filename="a.png", size_bytes=len(PNG) - 10)
    # rclone and AWS refuse a body of another length than the signed one; moto and others do
    # not, so the file is written as such a store would keep it: the complete step must refuse.
    assert put(session, PNG).status_code in (200, 403)
    stores.s3.put_object(Bucket=stores.bucket, Key=f"incoming/{session['upload_id']}", Body=PNG)
    response = api.complete(session["upload_id"])
    assert response.status == 422
    assert json_of(response)["detail"] == (
        f"The uploaded file is {len(PNG)} bytes, but the session declared {len(PNG) - 10}"
    )
    stores.assert_empty()


def test_sha256_other_than_declared_is_refused(api: Api, stores: Stores) -> None:
    other = hashlib.sha256(b"another file").hexdigest()
    session = send(api, PNG, sha256=other)  # rclone and moto ignore the signed checksum (AWS would not)
    response = api.complete(session["upload_id"])
    assert response.status == 422
    assert "SHA-256 does not match" in json_of(response)["detail"]
    stores.assert_empty()


def test_complete_before_the_bytes_is_409_then_works(api: Api, stores: Stores) -> None:
    session = api.create_session_ok(description="d", filename="a.png", size_bytes=len(PNG))
    early = api.complete(session["upload_id"])
    assert early.status == 409 and "PUT it" in json_of(early)["detail"]
    assert stores.rows() == [] and len(stores.upload_sessions()) == 1
    assert put(session, PNG).status_code == 200
    assert api.complete(session["upload_id"]).status == 201


def test_unknown_and_expired_sessions_are_404(api: Api, stores: Stores, services: dict[str, str]) -> None:
    assert api.complete(str(uuid.uuid4())).status == 404
    assert api.complete("not-a-uuid").status == 422
    session = send(api, PNG)
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:  # an hour passes
        conn.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'")
    response = api.complete(session["upload_id"])
    assert response.status == 404 and json_of(response)["detail"] == "Upload session not found or expired"
    assert stores.rows() == []


CREATE_REFUSALS = [
    pytest.param({"size_bytes": 200 * 1024 * 1024 + 1}, 413, "larger than 209715200", id="over the limit"),
    pytest.param({"content_type": "image/svg+xml"}, 415, "Unsupported file type", id="SVG declared"),
    pytest.param({"sha256": "abc"}, 422, None, id="malformed sha256"),
    pytest.param({"size_bytes": 0}, 422, None, id="empty"),
    pytest.param({"description": "\x00"}, 422, "control characters", id="control characters"),
    pytest.param({"bucket_key": "images/x"}, 422, None, id="unknown field"),
]


@pytest.mark.parametrize(("change", "status", "detail"), CREATE_REFUSALS)
def test_bad_session_request_is_refused_before_signing(
    api: Api, stores: Stores, change: dict[str, object], status: int, detail: str | None
) -> None:
    response = api.create_session(**{"description": "d", "filename": "a.png", "size_bytes": 10, **change})
    assert response.status == status, response.body
    body = json_of(response)
    assert "X-Amz-Signature" not in response.body.decode()
    if detail is not None:
        assert detail in body["detail"]
    assert stores.upload_sessions() == []


def test_single_request_413_points_to_upload_sessions(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, MAX_UPLOAD_BYTES="4096"):
        response = api.upload(make_image("PNG", (90, 90), noise=True))
    assert response.status == 413
    assert json_of(response)["detail"].endswith("send larger files through POST /api/v1/uploads")


def test_large_download_redirects_to_the_same_response(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_image("PNG", (300, 200), noise=True)
    image = api.upload_ok(data, filename="Grüße.png")
    proxied = api.download(image["id"])  # the dev server's default: no threshold
    assert proxied.status == 200
    with layer_env(monkeypatch, DOWNLOAD_REDIRECT_BYTES="1024"):  # as on Lambda, scaled down
        response = api.download(image["id"])
        small = api.upload_ok(make_image("GIF", (4, 4)))
        assert api.download(small["id"]).status == 200  # below the threshold: proxied as before
    assert response.status == 307
    assert response.header("cache-control") == "no-store"
    location = response.header("location") or ""
    assert "X-Amz-Expires=300" in location and "X-Amz-Signature=" in location
    followed = httpx.get(location)
    assert followed.status_code == 200 and followed.content == data
    for name in ("content-type", "content-disposition", "cache-control", "content-length"):
        assert followed.headers[name] == proxied.header(name), name


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("exiv2-IMG_3578.heic", "image/heic"), ("libheif-example.avif", "image/avif")],
)
def test_a_declared_heic_or_avif_goes_through_a_session(
    api: Api, stores: Stores, name: str, content_type: str
) -> None:
    """Every type the upload accepts may be declared when the session is created (a phone's HEIC)."""
    data = corpus.read(name)
    session = send(api, data, filename=name, content_type=content_type)
    assert session["upload"]["headers"]["Content-Type"] == content_type
    done = api.complete(session["upload_id"])
    assert done.status == 201, done.body
    image = json_of(done)
    assert (image["content_type"], image["sha256"]) == (content_type, hashlib.sha256(data).hexdigest())
    assert api.download(image["id"]).body == data
