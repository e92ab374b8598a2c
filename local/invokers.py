"""How the gateway emulator runs a function: in this process (the host, `make gateway`) or over
HTTP through the Lambda Runtime Interface Emulator in the function's container (docker compose).

Both take the event as the JSON bytes Lambda would receive and give back the result as the JSON
bytes Lambda would return, so the gateway measures and converts both the same way."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from local.routes import FunctionRoute, load_handler

INVOKE_PATH = "/2015-03-31/functions/function/invocations"  # the RIE's, as Lambda's Invoke API

Handler = Callable[[Any, Any], Any]


class FunctionError(Exception):
    """The invocation failed as Lambda reports it: an unhandled error, a crash, a timeout."""


class Invoker(Protocol):
    async def invoke(self, route: FunctionRoute, payload: bytes, *, timeout: float) -> bytes:
        """The function's result for this event; raises FunctionError when it fails and
        TimeoutError when it has run for `timeout` seconds. Time spent waiting for a free
        instance is not counted: Lambda would have started another one."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class LambdaContext:
    """The context object Lambda hands the handler, with the attributes code reads."""

    function_name: str
    memory_limit_in_mb: int
    timeout: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout - time.monotonic()) * 1000))


class InProcessInvoker:
    """Imports each function's handler from its folder and calls it in a worker thread, so a slow
    or blocking handler neither stalls the server nor escapes the timeout.

    A timed-out call cannot be stopped (Lambda would freeze its sandbox); its thread runs on in the
    background and the gateway answers without it."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None, *, workers: int = 16) -> None:
        self._handlers = dict(handlers or {})
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="function")

    @classmethod
    def for_routes(cls, routes: list[FunctionRoute], *, workers: int = 16) -> InProcessInvoker:
        # Imported here, in the caller's thread: Mangum sets up an event loop when it is created.
        return cls({route.function: load_handler(route) for route in routes}, workers=workers)

    async def invoke(self, route: FunctionRoute, payload: bytes, *, timeout: float) -> bytes:
        handler = self._handlers[route.function]
        context = LambdaContext(route.function, route.memory, route.timeout)
        event = json.loads(payload)
        loop = asyncio.get_running_loop()

        async def run() -> Any:
            try:
                return await loop.run_in_executor(self._pool, call_handler, handler, event, context)
            except Exception as exc:  # Lambda reports any unhandled error as a function error
                raise FunctionError(f"{type(exc).__name__}: {exc}") from exc

        result = await asyncio.wait_for(run(), timeout)  # TimeoutError: the function's Timeout
        try:
            return json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            raise FunctionError(f"Runtime.MarshalError: {exc}") from exc

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def call_handler(handler: Handler, event: Any, context: Any) -> Any:
    """Calls a handler from any thread: Mangum drives the app with the thread's own event loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return handler(event, context)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class EmulatorInvoker:
    """POSTs the event to the Runtime Interface Emulator of the function's container.

    The RIE runs one invocation at a time (a second one meanwhile is refused with 400), as one
    Lambda execution environment does. Where Lambda would start another environment, requests
    for a busy function wait here in arrival order, and the wait does not count toward their
    timeout: only the invocation does. A container stays reserved until its RIE has answered,
    even after the gateway gave up on the request, so the next one never meets a busy RIE."""

    def __init__(self, urls: Mapping[str, str], client: httpx.AsyncClient | None = None) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._free = {name: asyncio.Lock() for name in self.urls}  # held while the RIE works
        self._waiting = dict.fromkeys(self.urls, 0)
        # Only connecting is bounded here: invoke() bounds each call by the function's timeout,
        # and the RIE stops the function itself at AWS_LAMBDA_FUNCTION_TIMEOUT.
        timeout = httpx.Timeout(connect=5.0, read=None, write=None, pool=None)
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def missing(self, routes: list[FunctionRoute]) -> list[str]:
        """Functions with a route but no invoke URL."""
        return sorted({r.function for r in routes} - self.urls.keys())

    def waiting(self, function: str) -> int:
        """Requests queued for the function's container, not yet sent."""
        return self._waiting[function]

    async def invoke(self, route: FunctionRoute, payload: bytes, *, timeout: float) -> bytes:
        url = self.urls[route.function] + INVOKE_PATH
        free = self._free[route.function]
        self._waiting[route.function] += 1
        try:
            await free.acquire()
        finally:
            self._waiting[route.function] -= 1
        # The call runs to its end whatever happens to this request; its end frees the container.
        call = asyncio.ensure_future(self._client.post(url, content=payload))
        call.add_done_callback(lambda done: _release(free, done))
        try:
            response = await asyncio.wait_for(asyncio.shield(call), timeout)
        except httpx.HTTPError as exc:
            raise FunctionError(f"{route.function} unreachable at {url}: {type(exc).__name__}") from exc
        body = response.content
        # The RIE answers 200 even for a failed invocation; Lambda flags it with a header.
        if response.status_code != 200 or response.headers.get("x-amz-function-error"):
            raise FunctionError(f"invoke answered {response.status_code}: {body[:200]!r}")
        if body.startswith(b"Task timed out after"):  # the RIE's timeout, as plain text
            raise FunctionError(body.decode(errors="replace"))
        if _is_error_payload(body):
            raise FunctionError(body[:500].decode(errors="replace"))
        return body

    async def aclose(self) -> None:
        await self._client.aclose()


def _release(lock: asyncio.Lock, call: asyncio.Future[Any]) -> None:
    if not call.cancelled():
        call.exception()  # retrieved: a failure after the gateway gave up is not an error to log
    lock.release()


def _is_error_payload(body: bytes) -> bool:
    """The runtime's error object ({"errorMessage", "errorType", ...}), which the RIE returns
    without the X-Amz-Function-Error header Lambda itself sets."""
    try:
        value = json.loads(body)
    except ValueError:
        return False
    keys = {"errorMessage", "errorType", "stackTrace", "requestId"}
    return isinstance(value, dict) and bool(value) and value.keys() <= keys and "errorType" in value


def parse_function_urls(text: str) -> dict[str, str]:
    """ "ListImagesFunction=http://list-images:8080,..." as {logical id: base URL}."""
    urls: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise ValueError(f"expected FunctionLogicalId=http://host:port, got {item!r}")
        urls[name.strip()] = url.strip()
    return urls
