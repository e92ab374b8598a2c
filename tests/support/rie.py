"""A stand-in for the Lambda Runtime Interface Emulator of one function's container: it serves
POST /2015-03-31/functions/function/invocations by calling the handler in this process, and
answers the way the real RIE does: 200 with the runtime's error object when the function fails,
and 400 to an invocation arriving while another one runs."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.invokers import INVOKE_PATH, Handler, LambdaContext, call_handler


class StandInEmulator:
    """One function's invoke endpoint; remembers the events it received."""

    def __init__(self, name: str, handler: Handler, *, timeout: int = 20) -> None:
        self.name = name
        self.handler = handler
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self.busy = threading.Lock()  # the RIE serves one invocation at a time
        self.refused = 0

    def answer(self, payload: bytes) -> bytes:
        event = json.loads(payload)
        self.events.append(event)
        try:
            result = call_handler(self.handler, event, LambdaContext(self.name, 512, self.timeout))
        except Exception as exc:  # the runtime's error object
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": "",
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(error).encode()
        return json.dumps(result).encode()


def _request_handler(emulator: StandInEmulator) -> type[BaseHTTPRequestHandler]:
    class InvokeHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != INVOKE_PATH:
                self.send_error(404)
                return
            payload = self.rfile.read(int(self.headers.get("content-length", "0")))
            if not emulator.busy.acquire(blocking=False):  # as the RIE: "Failed to reserve"
                emulator.refused += 1
                self.send_response(400)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            try:
                body = emulator.answer(payload)
            finally:
                emulator.busy.release()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet, as a test should be
            pass

    return InvokeHandler


@contextmanager
def stand_in_emulator(emulator: StandInEmulator) -> Iterator[str]:
    """Serves the emulator on 127.0.0.1 and a free port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(emulator))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
