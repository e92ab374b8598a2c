"""A 38 MB photo through the API Gateway emulator: refused as one request (Lambda's 6 MB
payload), accepted through an upload session, and back byte-identical through the 307.

The photo: tests/photos/Dune.jpg, unchanged from Debian's mate-backgrounds 1.26.0-1
(usr/share/backgrounds/mate/nature/Dune.jpg, GPL-2+, M. Cogoni and H. Bons), a real 1680x1050
photo of 1,021,283 bytes. No real photo of 30 MB can be committed, so the test makes one from
its pixels: sixteen tiles of the photo, each turned another way so that no row repeats within
the compressor's window, saved as a complete PNG (6720x4200, about 38 MB). A valid image end
to end, no trailer: it passes the same checks as any upload."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import Stores
from tests.http.test_upload_sessions import put
from tests.support.api import Api, json_of
from tests.support.layer import layer_env
from tests.support.targets import HttpTarget

PHOTO = Path(__file__).resolve().parents[1] / "photos" / "Dune.jpg"
LAMBDA_REDIRECT_BYTES = "4600000"  # template.yaml's DownloadRedirectBytes


@pytest.fixture(scope="module")
def large_photo() -> bytes:
    photo = Image.open(PHOTO).convert("RGB")
    turns = [
        photo,
        photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        photo.transpose(Image.Transpose.ROTATE_180),
        photo.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    ]
    canvas = Image.new("RGB", (photo.width * 4, photo.height * 4))
    for row in range(4):
        for column in range(4):
            canvas.paste(turns[(column + row) % 4], (column * photo.width, row * photo.height))
    out = io.BytesIO()
    canvas.save(out, format="PNG", compress_level=1)
    data = out.getvalue()
    assert len(data) > 30_000_000, len(data)
    return data


def test_large_photo_round_trip_through_the_gateway(
    gateway_server: str, stores: Stores, large_photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(HttpTarget("gateway", gateway_server))
    with layer_env(monkeypatch, MAX_UPLOAD_BYTES=LAMBDA_REDIRECT_BYTES):
        single = api.upload(large_photo, filename="dune.png")
    assert single.status == 413  # the case that fails as one request: the gateway refuses it
    stores.assert_empty()

    digest = hashlib.sha256(large_photo).hexdigest()
    session = api.create_session_ok(
        description="Dune, tiled", filename="dune.png", size_bytes=len(large_photo), sha256=digest
    )
    assert put(session, large_photo).status_code == 200
    completed = api.complete(session["upload_id"])
    assert completed.status == 201, completed.body
    image = json_of(completed)
    assert (image["size_bytes"], image["sha256"]) == (len(large_photo), digest)
    assert (image["width"], image["height"], image["content_type"]) == (6720, 4200, "image/png")

    with layer_env(monkeypatch, DOWNLOAD_REDIRECT_BYTES=LAMBDA_REDIRECT_BYTES):
        redirect = api.download(image["id"])
    assert redirect.status == 307
    followed = httpx.get(redirect.header("location") or "", timeout=60)
    assert followed.status_code == 200
    assert followed.content == large_photo  # byte-identical
    assert followed.headers["content-type"] == "image/png"
    assert followed.headers["content-disposition"].startswith('attachment; filename="dune.png"')

    proxied = api.download(image["id"])  # without the redirect: over Lambda's 6 MB response
    assert proxied.status == 500
