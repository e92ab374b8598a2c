"""Lambda's 6 MB payload limits and the timeouts, enforced where AWS enforces them and answered
as an HTTP API answers them: byte-exact at the boundaries, then on the real functions."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import httpx
import pytest

from local.invokers import Handler
from local.limits import REQUEST_PAYLOAD_LIMIT, RESPONSE_PAYLOAD_LIMIT
from local.routes import FunctionRoute
from tests.conftest import Stores
from tests.gateway.fakes import Blocks, Returns, echo, gateway_for, route
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import make_image
from tests.support.targets import HttpTarget

ECHO = route("EchoFunction", "POST", "/echo")
COUNTED = route("CountedFunction", "POST", "/counted")
TOO_LARGE = {"message": "Request Entity Too Large"}
FUNCTION_ERROR = {"message": "Internal Server Error"}


def result_of_size(size: int) -> dict[str, object]:
    """A result whose JSON, as Lambda serialises it, is exactly size bytes."""
    overhead = len(json.dumps({"statusCode": 200, "body": ""}))
    return {"statusCode": 200, "body": "a" * (size - overhead)}


@pytest.fixture(scope="module")
def counted() -> Returns:
    return Returns({"statusCode": 204})


@pytest.fixture(scope="module")
def url(counted: Returns) -> Iterator[str]:
    functions: dict[FunctionRoute, Handler] = {
        ECHO: echo,
        COUNTED: counted,
        route("AtLimitFunction", "GET", "/at-limit"): Returns(result_of_size(RESPONSE_PAYLOAD_LIMIT)),
        route("OverLimitFunction", "GET", "/over-limit"): Returns(result_of_size(RESPONSE_PAYLOAD_LIMIT + 1)),
    }
    with gateway_for(functions) as base:
        yield base


def post_text(url: str, size: int) -> httpx.Response:
    return httpx.post(url, content=b"a" * size, headers={"content-type": "text/plain"}, timeout=60)


def test_an_event_one_byte_under_the_limit_reaches_the_function(url: str) -> None:
    # Text bodies go into the event as they are, so the event's size moves byte for byte with
    # the body (the body sizes keep Content-Length at seven digits).
    probe = post_text(f"{url}/echo", 6_000_000)
    overhead = json.loads(probe.text)["size"] - 6_000_000
    largest = REQUEST_PAYLOAD_LIMIT - 1 - overhead

    accepted = post_text(f"{url}/echo", largest)

    assert accepted.status_code == 200
    assert json.loads(accepted.text)["size"] == REQUEST_PAYLOAD_LIMIT - 1
    refused = post_text(f"{url}/echo", largest + 1)
    assert (refused.status_code, refused.json()) == (413, TOO_LARGE)


def test_an_oversized_event_never_reaches_the_function(url: str, counted: Returns) -> None:
    before = counted.calls
    assert httpx.post(f"{url}/counted", content=b"x", timeout=60).status_code == 204
    # 4.8 MB of binary is 6.4 MB once base64-encoded into the event: over Lambda's limit.
    response = httpx.post(
        f"{url}/counted",
        content=os.urandom(4_800_000),
        headers={"content-type": "application/octet-stream"},
        timeout=60,
    )
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert response.headers["content-type"] == "application/json"
    assert counted.calls == before + 1


def test_a_body_far_over_the_limit_is_refused_after_being_read(url: str) -> None:
    response = post_text(f"{url}/counted", 12_000_000)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


def test_a_result_at_the_limit_is_delivered_and_one_byte_more_is_a_function_error(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="local.gateway.access")
    at_limit = httpx.get(f"{url}/at-limit", timeout=60)
    assert at_limit.status_code == 200
    assert len(at_limit.content) == RESPONSE_PAYLOAD_LIMIT - len(json.dumps({"statusCode": 200, "body": ""}))

    over = httpx.get(f"{url}/over-limit", timeout=60)

    assert (over.status_code, over.json()) == (500, FUNCTION_ERROR)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if "/over-limit" in r.getMessage()]
    assert "Response payload size exceeded" in line["integrationErrorMessage"]


def test_a_function_running_past_its_timeout_is_a_function_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="local.gateway.access")
    hung = Blocks()
    try:
        with gateway_for({route("SlowFunction", "GET", "/slow", timeout=1): hung}) as base:
            response = httpx.get(f"{base}/slow", timeout=60)
    finally:
        hung.release.set()
    assert hung.started.is_set()
    assert (response.status_code, response.json()) == (500, FUNCTION_ERROR)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "local.gateway.access"]
    assert line["integrationErrorMessage"] == "Task timed out after 1 seconds"


def test_an_integration_outlasting_the_http_api_timeout_is_503() -> None:
    hung = Blocks()
    slow = route("SlowFunction", "GET", "/slow", timeout=5)
    try:
        with gateway_for({slow: hung}, integration_timeout=0.2) as base:
            response = httpx.get(f"{base}/slow", timeout=60)
    finally:
        hung.release.set()
    assert (response.status_code, response.json()) == (503, {"message": "Service Unavailable"})


@pytest.mark.parametrize("server", ["dev_server", "gateway_server"])
def test_an_upload_lambda_could_not_receive_stores_nothing(
    request: pytest.FixtureRequest, stores: Stores, server: str
) -> None:
    # Within MAX_UPLOAD_BYTES (5 MiB in the tests), so the dev server takes it; as an event it
    # is 6.5 MB, so behind API Gateway the upload function never sees it.
    data = make_image("PNG", (1270, 1270), noise=True)
    assert 4_800_000 < len(data) < 5 * 1024 * 1024
    response = Api(HttpTarget(server, request.getfixturevalue(server))).upload(data)
    if server == "dev_server":
        assert response.status == 201
        return
    assert (response.status, json_of(response)) == (413, TOO_LARGE)
    stores.assert_empty()


def test_a_download_over_the_response_limit_is_a_function_error(
    dev_server: str, gateway_server: str, stores: Stores
) -> None:
    data = make_image("PNG", (1270, 1270), noise=True)
    image = Api(HttpTarget("devserver", dev_server)).upload_ok(data)
    path = f"{IMAGES}{image['id']}/file"

    direct = HttpTarget("devserver", dev_server).request("GET", path)
    through_gateway = HttpTarget("gateway", gateway_server).request("GET", path)

    assert (direct.status, direct.body == data) == (200, True)
    assert (through_gateway.status, json_of(through_gateway)) == (500, FUNCTION_ERROR)
