"""The gateway emulator's two conversions, checked on the wire: the HTTP request becomes the
payload-format-2.0 event an HTTP API sends, the result becomes the HTTP response, and every
request leaves one access-log line."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.invokers import Handler
from local.routes import FunctionRoute
from tests.gateway.fakes import Returns, echo, fail, gateway_for, route

ECHO = route("EchoFunction", "GET", "/things/{thing_id}/parts/{part}")
ECHO_POST = route("EchoPostFunction", "POST", "/things")
SHAPED = route("ShapedFunction", "GET", "/shaped")
BROKEN = route("BrokenFunction", "GET", "/broken")
MALFORMED = route("MalformedFunction", "GET", "/malformed")
PLAIN = route("PlainFunction", "GET", "/plain")

PIXELS = os.urandom(256)
SHAPED_RESULT = {
    "statusCode": 201,
    "headers": {"content-type": "image/png", "x-single": "one", "content-length": "1"},
    "multiValueHeaders": {"x-multi": ["a", "b"]},
    "cookies": ["session=abc; HttpOnly", "theme=dark"],
    "body": base64.b64encode(PIXELS).decode(),
    "isBase64Encoded": True,
}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    functions: dict[FunctionRoute, Handler] = {
        ECHO: echo,
        ECHO_POST: echo,
        SHAPED: Returns(SHAPED_RESULT),
        BROKEN: fail,
        MALFORMED: Returns({"statusCode": "two hundred", "body": "x"}),
        PLAIN: Returns({"hello": ["world"]}),
    }
    with gateway_for(functions) as base:
        yield base


def get_event(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    event: dict[str, Any] = json.loads(response.text)["event"]
    return event


def test_request_becomes_a_v2_event(url: str) -> None:
    response = httpx.get(
        f"{url}/things/a%20b/parts/7/?tag=x&tag=y&empty=",
        headers=[
            *[("x-many", "1"), ("x-many", "2"), ("cookie", "a=1; b=2"), ("user-agent", "tester")],
            *[("x-forwarded-proto", "https"), ("x-forwarded-port", "1")],  # API Gateway sets its own
        ],
    )
    event = get_event(response)

    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /things/{thing_id}/parts/{part}"
    assert event["rawPath"] == "/things/a%20b/parts/7/"
    assert event["rawQueryString"] == "tag=x&tag=y&empty="
    assert event["queryStringParameters"] == {"tag": "x,y", "empty": ""}
    assert event["pathParameters"] == {"thing_id": "a b", "part": "7"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-many"] == "1,2"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == url.rsplit(":", 1)[1]
    http = event["requestContext"]["http"]
    assert (http["method"], http["sourceIp"], http["userAgent"]) == ("GET", "127.0.0.1", "tester")
    assert event["requestContext"]["requestId"] == response.headers["apigw-requestid"]
    assert "body" not in event and event["isBase64Encoded"] is False
    assert 0 < json.loads(response.text)["remaining_ms"] <= ECHO.timeout * 1000


@pytest.mark.parametrize(
    ("content_type", "body", "encoded"),
    [
        ("application/json", b'{"a": "\xc3\xa9"}', False),
        ("text/plain; charset=utf-8", "caf\u00e9".encode(), False),
        ("multipart/form-data; boundary=x", b"--x\r\n\x89PNG\x00\xff\r\n--x--\r\n", True),
        ("application/octet-stream", PIXELS, True),
    ],
)
def test_binary_bodies_are_base64_and_text_bodies_are_not(
    url: str, content_type: str, body: bytes, encoded: bool
) -> None:
    event = get_event(httpx.post(f"{url}/things", content=body, headers={"content-type": content_type}))
    assert event["isBase64Encoded"] is encoded
    sent = base64.b64decode(event["body"]) if encoded else event["body"].encode()
    assert sent == body


def test_result_becomes_the_response(url: str) -> None:
    response = httpx.get(f"{url}/shaped")
    assert response.status_code == 201
    assert response.content == PIXELS  # base64 decoded, every byte
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(PIXELS))  # recomputed, not the function's
    assert response.headers.get_list("x-multi") == ["a", "b"]
    assert response.headers.get_list("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert len(response.headers["apigw-requestid"]) == 16


def test_a_result_without_status_code_is_a_json_body(url: str) -> None:
    response = httpx.get(f"{url}/plain")
    assert (response.status_code, response.json()) == (200, {"hello": ["world"]})
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/broken", "/malformed"])
def test_function_errors_are_500_as_an_http_api_answers(url: str, path: str) -> None:
    response = httpx.get(f"{url}{path}")
    assert response.status_code == 500
    assert response.content == b'{"message":"Internal Server Error"}'
    assert response.headers["content-type"] == "application/json"


def test_no_route_and_wrong_method_answer_like_the_dev_server(url: str) -> None:
    missing = httpx.get(f"{url}/nothing/here")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    wrong = httpx.delete(f"{url}/things")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method Not Allowed"})
    assert wrong.headers["allow"] == "POST"


def test_every_request_writes_one_json_access_log_line(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="local.gateway.access")
    ids = [
        httpx.get(f"{url}/things/1/parts/2").headers["apigw-requestid"],
        httpx.get(f"{url}/broken").headers["apigw-requestid"],
        httpx.put(f"{url}/nothing").headers["apigw-requestid"],
    ]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "local.gateway.access"]
    assert [line["requestId"] for line in lines] == ids
    assert [(line["httpMethod"], line["status"]) for line in lines] == [
        ("GET", 200),
        ("GET", 500),
        ("PUT", 404),
    ]
    assert lines[0]["routeKey"] == ECHO.route_key and lines[2]["routeKey"] == "-"
    assert "RuntimeError: the function broke" in lines[1]["integrationErrorMessage"]
    assert lines[0]["integrationErrorMessage"] is None
    assert all(line["responseLength"] > 0 and line["ip"] == "127.0.0.1" for line in lines)
