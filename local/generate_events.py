"""Regenerates tests/events/*.json from `sam local generate-event`, filling in what it leaves
generic (routeKey, resource, pathParameters, headers, the multipart body).

Run with `make events`; the JSON files are committed, so tests never need SAM."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from typing import Any

from local.routes import ROOT, load_routes

EVENTS = ROOT / "tests" / "events"
SAMPLE_ID = "00000000-0000-4000-8000-000000000000"  # tests put a real id in its place
BOUNDARY = "----sam-event-boundary"


def sample_upload() -> tuple[bytes, str]:
    """A multipart body holding a 4x3 PNG; deterministic, so the fixture is stable."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 120, 200)).save(out, format="PNG")
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="description"\r\n\r\nSunset in Berlin\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="sunset.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + out.getvalue()
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def generate(sam: str, kind: str, method: str, path: str) -> dict[str, Any]:
    output = subprocess.run(  # noqa: S603  # our own SAM CLI, fixed arguments
        [sam, "local", "generate-event", "apigateway", kind, "--method", method, "--path", path.lstrip("/")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def v2_event(sam: str, method: str, template_path: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    event = generate(sam, "http-api-proxy", method, path)
    route_key = f"{method} {template_path}"
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    event.update(routeKey=route_key, rawQueryString="", cookies=[], body=None, isBase64Encoded=False)
    event["headers"] = {
        "host": host,
        "x-forwarded-proto": "https",
        "user-agent": "curl/8.5.0",
        "accept": "*/*",
    }
    event.pop("queryStringParameters", None)
    event.pop("stageVariables", None)
    event["requestContext"].pop("authentication", None)
    event["requestContext"].pop("authorizer", None)
    event["requestContext"].update(routeKey=route_key, domainName=host, domainPrefix="abc123")
    if params:
        event["pathParameters"] = params
    else:
        event.pop("pathParameters", None)
    return event


def v1_event(sam: str, method: str, template_path: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    event = generate(sam, "aws-proxy", method, path)
    event.update(resource=template_path, pathParameters=params or None, body=None, isBase64Encoded=False)
    event.update(queryStringParameters=None, multiValueQueryStringParameters=None, stageVariables=None)
    event["requestContext"].update(resourcePath=template_path)
    return event


def with_upload(event: dict[str, Any], *, v1: bool) -> dict[str, Any]:
    body, content_type = sample_upload()
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    if v1:
        event["headers"]["Content-Type"] = content_type
        event["multiValueHeaders"]["Content-Type"] = [content_type]
    else:
        event["headers"]["content-type"] = content_type
    return event


def with_json(event: dict[str, Any], body: dict[str, Any], *, v1: bool) -> dict[str, Any]:
    event.update(body=json.dumps(body), isBase64Encoded=False)
    if v1:
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    else:
        event["headers"]["content-type"] = "application/json"
    return event


# An upload session for the 4x3 PNG of sample_upload() (its exact size and SHA-256).
SESSION_REQUEST = {"description": "Sunset in Berlin", "filename": "sunset.png", "size_bytes": 0}


# A new description for the sample image (PATCH /api/v1/images/{id}).
UPDATE_REQUEST = {"description": "Sunset over the Spree"}


def session_request() -> dict[str, Any]:
    import hashlib

    body, _ = sample_upload()
    png = body[body.index(b"\x89PNG") : body.rindex(b"\r\n--")]
    return {**SESSION_REQUEST, "size_bytes": len(png), "sha256": hashlib.sha256(png).hexdigest()}


def main() -> int:
    sam = str(ROOT / ".tools" / "sam" / "bin" / "sam")
    EVENTS.mkdir(parents=True, exist_ok=True)
    for route in load_routes():
        if route.method == "HEAD":
            continue  # answered as GET is: tests change the GET event's method
        name = route.code_dir.name
        params = {p.strip("{}"): SAMPLE_ID for p in route.path.split("/") if p.startswith("{")}
        path = route.path
        for key, value in params.items():
            path = path.replace(f"{{{key}}}", value)
        if route.method == "GET" and not params and not path.endswith("/"):
            path += "/"  # as the curl examples send it
        for version, build in (("v2", v2_event), ("v1", v1_event)):
            event = build(sam, route.method, route.path, path, params)
            if route.function == "UploadImageFunction":
                event = with_upload(event, v1=version == "v1")
            elif route.function == "CreateUploadFunction":
                event = with_json(event, session_request(), v1=version == "v1")
            elif route.function == "UpdateImageFunction":
                event = with_json(event, UPDATE_REQUEST, v1=version == "v1")
            target = EVENTS / f"{name}.{version}.json"
            target.write_text(json.dumps(event, indent=2) + "\n")
            print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
