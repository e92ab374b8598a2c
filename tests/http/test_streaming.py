"""Large uploads stream to S3 in parts while the body arrives, and still leave nothing behind
when the form is refused at its end."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.multipart import BOUNDARY, encode
from tests.support.targets import Target

BIG = (2600, 2700)  # a ~20 MiB PNG of noise: three 8 MiB parts


@pytest.fixture
def api(target: Target, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    if target.name == "gateway":
        pytest.skip("over Lambda's 6 MB payload limit: the gateway's own 413 is tested in tests/gateway")
    with layer_env(monkeypatch, MAX_UPLOAD_BYTES=str(32 * 1024 * 1024)):
        yield Api(target)


def test_large_upload_round_trips(api: Api, stores: Stores) -> None:
    data = make_image("PNG", BIG, noise=True)
    assert len(data) > 16 * 1024 * 1024
    image = api.upload_ok(data)
    assert image["size_bytes"] == len(data) and image["sha256"] == hashlib.sha256(data).hexdigest()
    assert api.download(image["id"]).body == data
    assert stores.unfinished_uploads() == []


@pytest.mark.parametrize(
    ("fields", "status"),
    [([("description", "")], 422), ([("description", "a"), ("description", "b")], 422), ([], 422)],
    ids=["empty description", "duplicated description", "no description"],
)
def test_refused_after_the_parts_went_up_leaves_nothing(
    api: Api, stores: Stores, fields: list[tuple[str, str | bytes]], status: int
) -> None:
    data = make_image("PNG", BIG, noise=True)
    # The file comes first, so its parts are in S3 before the description is read.
    file_part, _ = encode([], [("file", "big.png", data, "image/png")])
    field_parts, content_type = encode(fields, [])
    body = file_part.removesuffix(f"--{BOUNDARY}--\r\n".encode()) + field_parts
    response = api.post_raw(body, content_type)
    assert response.status == status, response.body
    assert json_of(response)["detail"]
    stores.assert_empty()


def test_large_non_image_is_refused_before_any_part(api: Api, stores: Stores) -> None:
    data = b"\x00" * (20 * 1024 * 1024)
    response = api.upload(data)
    assert response.status == 415
    stores.assert_empty()
