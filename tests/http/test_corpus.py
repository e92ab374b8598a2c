"""Every file of the real-world corpus, and the trailers phones add, uploaded on every target:
the exact type, size, SHA-256, dimensions and orientation come back, and the download is
byte-identical."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from local.limits import REQUEST_PAYLOAD_LIMIT
from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.corpus import FILES, JPEG_VARIANTS, VARIANTS, expected, read
from tests.support.layer import layer_env
from tests.support.targets import Target

# Base64 makes 3 bytes 4 in the event: a file over this cannot reach a function behind the gateway.
GATEWAY_FILE_LIMIT = (REQUEST_PAYLOAD_LIMIT - 64 * 1024) // 4 * 3 - 64 * 1024


@pytest.fixture
def api(target: Target, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with layer_env(monkeypatch, MAX_UPLOAD_BYTES=str(16 * 1024 * 1024)):  # the corpus's MPO is 9.9 MB
        yield Api(target)


def round_trip(api: Api, stores: Stores, data: bytes, *, like: bytes) -> None:
    """data uploads and downloads as itself, described as Pillow describes `like`."""
    if api.target.name == "gateway" and len(data) > GATEWAY_FILE_LIMIT:
        response = api.upload(data)
        assert (response.status, json_of(response)) == (413, {"message": "Request Entity Too Large"})
        stores.assert_empty()
        return
    image = api.upload_ok(data, filename="photo")
    oracle = expected(like)
    assert image["size_bytes"] == len(data)
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert oracle.matches(image["content_type"], image["width"], image["height"], image["orientation"]), image
    download = api.download(image["id"])
    assert download.status == 200
    assert download.body == data
    assert download.header("content-type") == image["content_type"]
    assert image["filename"] == f"photo.{image['content_type'].removeprefix('image/').replace('jpeg', 'jpg')}"


@pytest.mark.parametrize("name", FILES)
def test_each_corpus_file_round_trips(api: Api, stores: Stores, name: str) -> None:
    data = read(name)
    round_trip(api, stores, data, like=data)


TRAILERS = [
    ("exiv2-exiv2-nikon-d70.jpg", JPEG_VARIANTS["Samsung trailer"]),
    ("exiv2-exiv2-canon-eos-20d.jpg", JPEG_VARIANTS["Samsung trailer, no EOI"]),
    ("pillow-flower.jpg", JPEG_VARIANTS["motion photo MP4"]),
    ("pillow-chi.gif", VARIANTS["zero padding"]),
    ("pillow-hopper_zero_comment_subblocks.gif", VARIANTS["0x1A padding"]),  # a GIF87a
    ("pillow-icc_profile.png", VARIANTS["ZIP appended"]),
    ("pillow-flower.webp", VARIANTS["zero padding"]),
    ("exiv2-IMG_3578.heic", VARIANTS["zero padding"]),
]


@pytest.mark.parametrize(("name", "variant"), TRAILERS, ids=[name for name, _ in TRAILERS])
def test_trailers_are_kept_byte_for_byte(api: Api, stores: Stores, name: str, variant: object) -> None:
    data = read(name)
    assert callable(variant)
    round_trip(api, stores, variant(data), like=data)
