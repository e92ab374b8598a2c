"""Bearer tokens when API_TOKENS is set, and logs that are JSON, carry a request id, and hold
neither tokens nor file bytes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from imageapi.core.logs import JsonFormatter
from imageapi.http.api import create_app
from tests.conftest import Stores
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.multipart import upload_body
from tests.support.targets import Target

TOKENS = "first-token-0123456789,second-token-9876543210"
ID = "6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a"


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


@pytest.fixture
def tokens_required(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with layer_env(monkeypatch, API_TOKENS=TOKENS):
        yield


ROUTES = [
    ("GET", IMAGES),
    ("POST", IMAGES),
    ("GET", f"{IMAGES}{ID}"),
    ("GET", f"{IMAGES}{ID}/file"),
    ("GET", f"{IMAGES}{ID}/thumbnail"),
    ("DELETE", f"{IMAGES}{ID}"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer wrong", "Basic Zmlyc3QtdG9rZW4=", "first-token-0123456789"]
)
def test_every_route_refuses_a_missing_or_wrong_token(
    api: Api, stores: Stores, tokens_required: None, method: str, path: str, authorization: str | None
) -> None:
    body, content_type = upload_body(make_image("PNG"))
    headers = {"content-type": content_type}
    if authorization:
        headers["authorization"] = authorization
    response = api.target.request(method, path, headers=headers, body=body if method == "POST" else b"")
    assert response.status == 401
    assert response.header("www-authenticate") == 'Bearer realm="images"'
    assert json_of(response) == {"detail": "Missing or invalid bearer token"}
    stores.assert_empty()


def test_delete_needs_the_token_like_every_route(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = api.upload_ok(make_image("PNG"), description="kept until asked properly")
    with layer_env(monkeypatch, API_TOKENS=TOKENS):
        refused = api.delete(image["id"], headers={"authorization": "Bearer wrong"})
        assert refused.status == 401
        assert len(stores.rows()) == 1 and len(stores.object_keys()) == 1
        accepted = api.delete(image["id"], headers={"authorization": "Bearer second-token-9876543210"})
        assert accepted.status == 204
    assert stores.rows() == [] and stores.object_keys() == []


@pytest.mark.parametrize("token", TOKENS.split(","))
def test_any_configured_token_is_accepted(api: Api, tokens_required: None, token: str) -> None:
    auth = {"authorization": f"Bearer {token}"}
    body, content_type = upload_body(make_image("PNG"))
    created = api.target.request("POST", IMAGES, headers={**auth, "content-type": content_type}, body=body)
    assert created.status == 201
    image_id = json_of(created)["id"]
    assert api.target.request("GET", IMAGES, headers=auth).status == 200
    assert api.target.request("GET", f"{IMAGES}{image_id}", headers=auth).status == 200
    assert api.target.request("GET", f"{IMAGES}{image_id}/file", headers=auth).status == 200


def test_without_api_tokens_no_token_is_needed(api: Api) -> None:
    assert api.list().status == 200


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The package's log lines, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("imageapi")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_logs_are_json_with_request_id_and_no_secrets(
    api: Api, tokens_required: None, json_log: io.StringIO
) -> None:
    token = TOKENS.split(",")[0]
    data = make_image("PNG", (40, 40), noise=True)
    body, content_type = upload_body(data, description="secret-description-text")
    headers = {"authorization": f"Bearer {token}", "content-type": content_type, "x-request-id": "req-123"}
    assert api.target.request("POST", IMAGES, headers=headers, body=body).status == 201
    api.target.request("GET", IMAGES, headers={"authorization": "Bearer not-a-valid-token"})

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line["message"] == "request"]
    assert [(a["method"], a["status"]) for a in access] == [("POST", 201), ("GET", 401)]
    assert all(line["request_id"] not in ("", "-") for line in access)
    if api.target.name == "devserver":  # behind a gateway, as on Lambda, the invocation's id wins
        assert access[0]["request_id"] == "req-123"
    text = json_log.getvalue()
    for secret in (token, "not-a-valid-token", data[16:48].hex(), "secret-description-text"):
        assert secret not in text


def test_access_lines_carry_the_reason_and_embedded_metrics(
    api: Api, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_image("PNG", (40, 40), noise=True)
    with layer_env(monkeypatch, METRICS_NAMESPACE="ImageApiTest"):
        created = api.upload_ok(data, description="metrics")
        assert api.target.request("GET", f"{IMAGES}not-an-id").status == 422
        body, content_type = upload_body(b"plain text, not an image", description="x")
        refused = api.target.request("POST", IMAGES, headers={"content-type": content_type}, body=body)
        assert refused.status == 415
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line["message"] == "request"]
    assert [a["status"] for a in access] == [201, 422, 415]
    stored, invalid, unsupported = access
    assert "reason" not in stored
    assert "image_id" in invalid["reason"]  # which field, never the value sent
    assert unsupported["reason"] == json_of(refused)["detail"]
    for line in access:  # each line is an EMF document CloudWatch turns into data points
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "ImageApiTest" and directive["Dimensions"] == [["Function"]]
        names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
        assert names == {"Unavailable": "Count", "Refused": "Count", "UploadedBytes": "Bytes"}
        assert all(isinstance(line[name], int | float) for name in names) and line["Function"]
    assert (stored["Refused"], stored["UploadedBytes"]) == (0, created["size_bytes"]) == (0, len(data))
    assert (invalid["Refused"], unsupported["Refused"], unsupported["UploadedBytes"]) == (1, 1, 0)


def test_no_embedded_metrics_without_a_namespace(api: Api, json_log: io.StringIO) -> None:
    assert api.target.request("GET", f"{IMAGES}not-an-id").status == 422
    [access] = [json.loads(line) for line in json_log.getvalue().splitlines() if '"request"' in line]
    assert "_aws" not in access and access["reason"]


@pytest.mark.parametrize("guard", ["none", "tokens", "gateway"])
def test_files_are_public_to_shared_caches_only_when_nothing_guards_them(
    api: Api, monkeypatch: pytest.MonkeyPatch, guard: str
) -> None:
    """A CDN in front (CreateCdn) keeps a file only when `public`: never one a token guards."""
    token = TOKENS.split(",")[0]
    env = {"none": {}, "tokens": {"API_TOKENS": TOKENS}, "gateway": {"AUTH_AT_GATEWAY": "true"}}[guard]
    headers = {"authorization": f"Bearer {token}"} if guard == "tokens" else {}
    with layer_env(monkeypatch, **env):
        data = make_image("PNG", (40, 40), noise=True)
        body, content_type = upload_body(data, description="cached")
        created = api.target.request(
            "POST", IMAGES, headers={**headers, "content-type": content_type}, body=body
        )
        assert created.status == 201
        image_id = json_of(created)["id"]
        answers = [
            api.target.request("GET", f"{IMAGES}{image_id}/file", headers=headers),
            api.target.request("GET", f"{IMAGES}{image_id}/thumbnail?size=128", headers=headers),
        ]
    for got in answers:
        assert got.status == 200
        cache = got.header("cache-control") or ""
        assert cache.startswith("public") == (guard == "none"), cache
        assert "immutable" in cache and ("s-maxage=86400" in cache) == (guard == "none")


def test_metrics_are_written_whatever_the_log_level(
    api: Api, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = logging.getLogger("imageapi")
    with layer_env(monkeypatch, METRICS_NAMESPACE="ImageApiTest", LOG_LEVEL="ERROR"):
        previous = logger.level
        logger.setLevel(logging.ERROR)  # what LOG_LEVEL=ERROR configures
        try:
            create_app(title="probe")  # as every function's app is made
            assert api.target.request("GET", f"{IMAGES}not-an-id").status == 422
        finally:
            logger.setLevel(previous)
            logging.getLogger("imageapi.access").setLevel(logging.NOTSET)
    [access] = [json.loads(line) for line in json_log.getvalue().splitlines() if '"request"' in line]
    assert access["Refused"] == 1 and access["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ImageApiTest"
