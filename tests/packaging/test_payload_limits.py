"""Lambda's synchronous invoke takes a request under 6,291,456 bytes (6 MiB) and returns a
response of at most 6,291,556, and API Gateway sends a binary body base64-encoded (4 bytes for
every 3). The template's MaxUploadBytes is the largest
file whose whole upload event still fits; one byte more gets the handler's own 413, and the
largest file also fits on its way back down. See docs/deployment.md, "Payload limits", for the derivation."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import zlib
from pathlib import Path
from typing import Any

import pytest

from imageapi.http.forms import FORM_OVERHEAD_BYTES
from local.routes import read_template
from tests.conftest import Stores
from tests.packaging.support import Build, invoke_isolated
from tests.support.events import body_bytes, header, load_event
from tests.support.images import png_chunk, png_declaring
from tests.support.multipart import upload_body

# From Lambda's own errors: "Request must be smaller than 6291456 bytes for the InvokeFunction
# operation", "Exceeded maximum allowed payload size (6291556 bytes)".
REQUEST_LIMIT = 6_291_456
RESPONSE_LIMIT = 6_291_556
# What an HTTP API v2 event holds besides the body: the request line and headers (HTTP API caps
# them at 10,240 bytes together) appear at most twice (rawPath and http.path, rawQueryString and
# queryStringParameters), times 3 for JSON escaping, plus 4 KiB of fixed fields.
ENVELOPE_ALLOWANCE = 2 * 10_240 * 3 + 4_096


def base64_size(n: int) -> int:
    return 4 * math.ceil(n / 3)


def largest_upload() -> int:
    """The largest file whose upload event fits: the handler reads up to FORM_OVERHEAD_BYTES of
    multipart framing and fields beyond the file before it answers 413."""
    return (REQUEST_LIMIT - 1 - ENVELOPE_ALLOWANCE) // 4 * 3 - FORM_OVERHEAD_BYTES


def template_max_upload() -> int:
    parameter = read_template()["Parameters"]["MaxUploadBytes"]
    assert parameter["Default"] == parameter["MaxValue"]
    return int(parameter["Default"])


def png_of_size(size: int) -> bytes:
    """A valid 1x1 PNG of exactly size bytes, padded with a private ancillary chunk of zeros."""
    image = png_declaring(1, 1, pixel_data=zlib.compress(b"\x00\x00\x00\x00"))
    padding = size - len(image) - 12
    assert padding >= 0
    return image[:33] + png_chunk(b"prVt", bytes(padding)) + image[33:]


def upload_event(data: bytes) -> dict[str, Any]:
    """The recorded v2 upload event, carrying data as the file."""
    body, content_type = upload_body(data, filename="large.png")
    event = load_event("upload_image.v2")
    event["headers"]["content-type"] = content_type
    event["body"] = base64.b64encode(body).decode()
    return event


def payload_size(document: dict[str, Any]) -> int:
    return len(json.dumps(document).encode())


@pytest.fixture
def lambda_env(services: dict[str, str]) -> dict[str, str]:
    return {**services, "MAX_UPLOAD_BYTES": str(template_max_upload())}


def test_default_max_upload_is_the_derived_limit() -> None:
    assert largest_upload() == 4_603_901
    assert base64_size(largest_upload() + FORM_OVERHEAD_BYTES) + ENVELOPE_ALLOWANCE < REQUEST_LIMIT
    assert template_max_upload() == largest_upload() // 100_000 * 100_000  # rounded down: 4,600,000


def test_one_byte_over_the_limit_is_a_clear_413(
    build: Build, lambda_env: dict[str, str], stores: Stores, tmp_path: Path
) -> None:
    event = upload_event(png_of_size(template_max_upload() + 1))
    assert payload_size(event) < REQUEST_LIMIT  # so Lambda delivers it to the handler
    report = invoke_isolated(build, "UploadImageFunction", [event], env=lambda_env, workdir=tmp_path)
    [result] = report["results"]
    assert result["statusCode"] == 413
    assert (header(result, "content-type") or "").startswith("application/json")
    assert json.loads(body_bytes(result)) == {
        "detail": f"The file is larger than {template_max_upload()} bytes:"
        " send larger files through POST /api/v1/uploads"
    }
    stores.assert_empty()


def test_largest_file_fits_lambda_both_ways(
    build: Build, lambda_env: dict[str, str], stores: Stores, tmp_path: Path
) -> None:
    data = png_of_size(template_max_upload())
    event = upload_event(data)
    assert payload_size(event) < REQUEST_LIMIT
    uploaded = invoke_isolated(build, "UploadImageFunction", [event], env=lambda_env, workdir=tmp_path)
    [created] = uploaded["results"]
    assert created["statusCode"] == 201, created
    image = json.loads(body_bytes(created))
    assert (image["size_bytes"], image["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())

    download = load_event("download_image.v2", image_id=image["id"])
    report = invoke_isolated(build, "DownloadImageFunction", [download], env=lambda_env, workdir=tmp_path)
    [result] = report["results"]
    assert result["statusCode"] == 200
    assert payload_size(result) <= RESPONSE_LIMIT
    assert body_bytes(result) == data
