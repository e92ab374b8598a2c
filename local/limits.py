"""The limits API Gateway (HTTP API) and Lambda enforce, and the answers a client gets when
one is hit, so the gateway emulator fails where AWS would fail.

Sources (what AWS itself returns, not what its quota page rounds to):
- Lambda's Invoke API refuses an event with "Request must be smaller than 6291456 bytes for the
  InvokeFunction operation"; an HTTP API turns that into 413 {"message":"Request Entity Too Large"}.
- A result over "maximum allowed payload size (6291556 bytes)" is a function error, as are an
  unhandled exception and "Task timed out after N seconds"; an HTTP API answers every function
  error with 500 {"message":"Internal Server Error"} (a REST API would say 502 "Internal server
  error"; see aws-sam-cli issue 2590 for a captured HTTP API answer).
- An HTTP API gives up on an integration after 30 seconds and answers 503
  {"message":"Service Unavailable"} (a REST API: 504 "Endpoint request timed out").
"""

from __future__ import annotations

REQUEST_PAYLOAD_LIMIT = 6_291_456  # bytes of the event as JSON: the request must be smaller
RESPONSE_PAYLOAD_LIMIT = 6_291_556  # bytes of the result as JSON: at most this many
INTEGRATION_TIMEOUT = 30.0  # seconds; an HTTP API's default and maximum

REQUEST_TOO_LARGE = (413, "Request Entity Too Large")
FUNCTION_ERROR = (500, "Internal Server Error")
INTEGRATION_TIMED_OUT = (503, "Service Unavailable")
