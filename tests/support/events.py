"""Loads the API Gateway events under tests/events/ (made by `make events`), with a real id."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"
SAMPLE_ID = "00000000-0000-4000-8000-000000000000"


def load_event(
    name: str, *, image_id: str | None = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """tests/events/{name}.json; image_id replaces the sample id, query sets the query string."""
    text = (EVENTS / f"{name}.json").read_text()
    if image_id is not None:
        text = text.replace(SAMPLE_ID, image_id)
    event: dict[str, Any] = json.loads(text)
    if query:
        if event.get("version") == "2.0":
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
            event["queryStringParameters"] = query
        else:
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def body_bytes(result: dict[str, Any]) -> bytes:
    body = result.get("body") or ""
    return base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()


def header(result: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (result.get("multiValueHeaders") or {}).items()}
    return headers.get(name.lower()) or (multi.get(name.lower()) or [None])[0]
