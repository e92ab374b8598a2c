"""The gateway as docker compose runs it: every function invoked over HTTP through the Runtime
Interface Emulator's invoke endpoint, here a stand-in per function that calls the real handler."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.gateway import Gateway
from local.invokers import EmulatorInvoker, parse_function_urls
from local.routes import RouteTable, load_handler, load_routes
from tests.conftest import Stores
from tests.gateway.fakes import Blocks, fail, route
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.multipart import upload_body
from tests.support.rie import StandInEmulator, stand_in_emulator
from tests.support.servers import serve
from tests.support.targets import HttpTarget

FUNCTION_ERROR = {"message": "Internal Server Error"}


class TimesOut(StandInEmulator):
    """Answers as the RIE does when the function outlives AWS_LAMBDA_FUNCTION_TIMEOUT."""

    def answer(self, payload: bytes) -> bytes:
        return b"Task timed out after 1.00 seconds"


def takes_a_while(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Long enough for concurrent requests to overlap."""
    time.sleep(0.05)
    return {"statusCode": 200, "body": "done"}


@dataclass
class RieStack:
    api: Api
    emulators: dict[str, StandInEmulator]


@pytest.fixture(scope="module")
def rie_stack(services: dict[str, str]) -> Iterator[RieStack]:
    routes = load_routes()
    emulators = {r.function: StandInEmulator(r.function, load_handler(r), timeout=r.timeout) for r in routes}
    broken = route("BrokenFunction", "GET", "/broken")
    slow = route("SlowFunction", "GET", "/slow")
    gone = route("GoneFunction", "GET", "/gone")
    emulators[broken.function] = StandInEmulator(broken.function, fail)
    emulators[slow.function] = TimesOut(slow.function, fail)
    slowish = route("SlowishFunction", "GET", "/slowish")
    emulators[slowish.function] = StandInEmulator(slowish.function, takes_a_while)
    with ExitStack() as stack:
        urls = {name: stack.enter_context(stand_in_emulator(e)) for name, e in emulators.items()}
        urls[gone.function] = "http://127.0.0.1:9"  # nothing listens there
        app = Gateway(EmulatorInvoker(urls), RouteTable([*routes, broken, slow, gone, slowish]))
        base = stack.enter_context(serve(app))
        yield RieStack(Api(HttpTarget("gateway-rie", base)), emulators)


def test_the_api_works_end_to_end_through_the_invoke_endpoint(rie_stack: RieStack, stores: Stores) -> None:
    api, emulators = rie_stack.api, rie_stack.emulators
    data = make_image("JPEG", (120, 80), noise=True)
    form = {"description": "over HTTP", "filename": "a.jpg", "content_type": "image/jpeg"}

    created = api.upload(data, **form)

    assert created.status == 201, created.body
    image = json_of(created)
    body, content_type = upload_body(data, **form)
    event = emulators["UploadImageFunction"].events[-1]
    assert event["routeKey"] == "POST /api/v1/images"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body  # the multipart bytes, untouched
    assert event["headers"]["content-type"] == content_type
    assert json_of(api.get(image["id"])) == image
    assert [i["id"] for i in json_of(api.list())["items"]] == [image["id"]]
    download = api.download(image["id"])
    assert download.status == 200
    assert hashlib.sha256(download.body).hexdigest() == image["sha256"] == hashlib.sha256(data).hexdigest()
    assert download.header("content-type") == "image/jpeg"
    assert emulators["DownloadImageFunction"].events[-1]["pathParameters"] == {"image_id": image["id"]}
    [row] = stores.rows()
    assert str(row["id"]) == image["id"]


def test_application_errors_pass_through_unchanged(rie_stack: RieStack) -> None:
    response = rie_stack.api.get("6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a")
    assert (response.status, json_of(response)) == (404, {"detail": "Image not found"})


@pytest.mark.parametrize(
    "path",
    [
        "/broken",  # the runtime's error object, as the RIE returns it with status 200
        "/slow",  # the RIE's plain-text timeout
        "/gone",  # the container is not there
    ],
)
def test_failed_invocations_are_500_as_an_http_api_answers(rie_stack: RieStack, path: str) -> None:
    response = rie_stack.api.target.request("GET", path)
    assert (response.status, json_of(response)) == (500, FUNCTION_ERROR)


def test_concurrent_requests_for_one_function_queue_for_its_container(rie_stack: RieStack) -> None:
    api, emulator = rie_stack.api, rie_stack.emulators["SlowishFunction"]
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: api.target.request("GET", "/slowish"), range(6)))
    assert [r.status for r in responses] == [200] * 6
    assert emulator.refused == 0
    assert len(emulator.events) == 6


def test_invoke_urls_are_read_from_configuration() -> None:
    text = "ListImagesFunction=http://list-images:8080, UploadImageFunction=http://upload-image:8080/"
    urls = parse_function_urls(text)
    assert urls == {
        "ListImagesFunction": "http://list-images:8080",
        "UploadImageFunction": "http://upload-image:8080/",
    }
    invoker = EmulatorInvoker(urls)
    assert invoker.urls["UploadImageFunction"] == "http://upload-image:8080"
    assert invoker.missing(load_routes()) == [
        "CompleteUploadFunction",
        "CreateUploadFunction",
        "DeleteImageFunction",
        "DownloadImageFunction",
        "GalleryFunction",
        "GetImageFunction",
        "ThumbnailFunction",
        "UpdateImageFunction",
    ]
    with pytest.raises(ValueError, match="FunctionLogicalId=http"):
        parse_function_urls("ListImagesFunction")


def test_the_stand_in_answers_like_the_emulator(rie_stack: RieStack) -> None:
    emulator = rie_stack.emulators["BrokenFunction"]
    with stand_in_emulator(emulator) as base:
        response = httpx.post(f"{base}/2015-03-31/functions/function/invocations", content=b"{}")
    error: dict[str, Any] = json.loads(response.content)
    assert response.status_code == 200
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "the function broke")


def test_a_busy_function_queues_requests_without_charging_the_wait_to_their_timeout() -> None:
    """One request holds the function's container past its 1 s timeout and gets its 500; two
    more queue behind it for longer than that timeout, then run and succeed. The RIE never sees
    a second invocation while one runs (it would refuse it with 400, which became a 500)."""
    hold = route("HoldFunction", "GET", "/hold", timeout=1)
    blocks = Blocks()
    emulator = StandInEmulator(hold.function, blocks)
    with stand_in_emulator(emulator) as url, ThreadPoolExecutor(max_workers=3) as pool:
        invoker = EmulatorInvoker({hold.function: url})
        with serve(Gateway(invoker, RouteTable([hold]))) as base:

            def get() -> httpx.Response:
                return httpx.get(f"{base}/hold", timeout=120)

            try:
                first = pool.submit(get).result(timeout=120)  # the gateway gives up after 1 s
                assert (first.status_code, first.json()) == (500, FUNCTION_ERROR)
                assert blocks.started.is_set() and not blocks.release.is_set()  # still running

                queued = [pool.submit(get), pool.submit(get)]
                wait_until(lambda: invoker.waiting(hold.function) == 2)
                waiting_since = time.monotonic()
                wait_until(lambda: time.monotonic() - waiting_since > hold.timeout + 0.5)
                assert invoker.waiting(hold.function) == 2 and not any(f.done() for f in queued)
            finally:
                blocks.release.set()
            answers = [f.result(timeout=120) for f in queued]

    assert [(a.status_code, a.text) for a in answers] == [(200, "too late")] * 2
    assert emulator.refused == 0
    assert len(emulator.events) == 3


def wait_until(condition: Callable[[], bool], *, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)
