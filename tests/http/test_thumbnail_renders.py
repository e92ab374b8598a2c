"""What a thumbnail's first request may cost: one render per image and size at a time (threads
of the dev server, environments through a lease row), the memory bound checked before decoding,
a failed render remembered, conditional requests answered as GET is, the failure gone with its
image. Renders are counted by the route's own "thumbnail rendered" log records."""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from PIL import Image

from imageapi.routes import thumbnails
from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.images import png_declaring
from tests.support.layer import layer_env
from tests.support.photos import photo
from tests.support.targets import HttpTarget, Target

UNDECODABLE = "No thumbnail: The file cannot be decoded as an image"


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.renders = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.renders += record.getMessage() == "thumbnail rendered"


@pytest.fixture
def counted() -> Iterator[_Count]:
    """Counts the renders of the thumbnail route in this process (every target runs in it)."""
    logger = logging.getLogger(thumbnails.__name__)
    count, level = _Count(), logger.level
    logger.addHandler(count)
    logger.setLevel(logging.INFO)
    yield count
    logger.removeHandler(count)
    logger.setLevel(level)


def render_rows(stores: Stores) -> list[dict[str, Any]]:
    with psycopg.connect(stores.env["DATABASE_URL"]) as conn:
        cur = conn.execute("SELECT * FROM thumbnail_renders ORDER BY image_id, size")
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur]


def big_png(side: int = 4000) -> bytes:
    """Long enough to decode that concurrent requests overlap, small on the wire (a gradient)."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((side, side)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def test_concurrent_first_requests_on_the_dev_server_render_once(
    dev_server: str, stores: Stores, counted: _Count
) -> None:
    api = Api(HttpTarget("devserver", dev_server))
    image = api.upload_ok(big_png(), description="big")
    start = threading.Barrier(6)
    answers: list[tuple[int, bytes]] = []

    def ask() -> None:
        start.wait()
        response = api.thumbnail(image["id"], "size=1024")
        answers.append((response.status, response.body))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 6
    assert len({body for _, body in answers}) == 1
    assert counted.renders == 1
    assert len(thumbnails._renders) == 0  # the per-key locks went with their renders
    assert render_rows(stores) == []  # the lease ended; the stored object is the record


def test_a_render_leased_by_another_environment_is_waited_for_not_repeated(
    api: Api, stores: Stores, counted: _Count
) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    image_id = uuid.UUID(image["id"])
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO thumbnail_renders (image_id, size, lease_owner, lease_expires_at)"
            " VALUES (%s, 256, %s, clock_timestamp() + interval '30 seconds')",
            (image_id, uuid.uuid4()),
        )
    theirs = io.BytesIO()
    Image.new("RGB", (256, 205), "red").save(theirs, format="WEBP")

    def other_environment_finishes() -> None:
        time.sleep(0.5)  # not asserted on: the answer is theirs however long this takes
        key = f"thumbnails/{image_id}/256.webp"
        stores.s3.put_object(Bucket=stores.bucket, Key=key, Body=theirs.getvalue())
        with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("DELETE FROM thumbnail_renders WHERE image_id = %s", (image_id,))

    other = threading.Thread(target=other_environment_finishes)
    other.start()
    response = api.thumbnail(image["id"])  # here: the event target's handler needs this thread
    other.join()
    assert (response.status, response.body) == (200, theirs.getvalue())
    assert counted.renders == 0


def test_a_lease_whose_holder_died_is_taken_over(api: Api, stores: Stores, counted: _Count) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO thumbnail_renders (image_id, size, lease_owner, lease_expires_at)"
            " VALUES (%s, 256, %s, clock_timestamp() - interval '1 second')",
            (uuid.UUID(image["id"]), uuid.uuid4()),
        )
    assert api.thumbnail(image["id"]).status == 200
    assert counted.renders == 1
    assert render_rows(stores) == []


def test_above_the_memory_bound_is_422_without_decoding(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 7000 x 7000 RGB declared over 40 bytes that are no deflate stream: decoding would fail with
    # "cannot be decoded", so the bound's answer shows that nothing was decoded.
    huge = png_declaring(7000, 7000, pixel_data=b"these bytes are no deflate stream at all")
    image = api.upload_ok(huge, description="huge but tiny")
    with layer_env(monkeypatch, THUMBNAIL_MAX_DECODE_BYTES=str(100 * 1024 * 1024)):
        response = api.thumbnail(image["id"])
    assert response.status == 422
    assert json_of(response) == {
        "detail": "No thumbnail: Decoding the image would take about 281 MiB, more than the 100 MiB"
        " a thumbnail may use"
    }
    assert stores.object_keys() == [f"images/{image['id']}"]


def test_a_failed_render_is_remembered_until_the_limits_change(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch, counted: _Count
) -> None:
    broken = png_declaring(64, 48, pixel_data=b"these bytes are no deflate stream at all")
    image = api.upload_ok(broken, description="broken")
    first = api.thumbnail(image["id"])
    assert (first.status, json_of(first)) == (422, {"detail": UNDECODABLE})
    [remembered] = render_rows(stores)
    assert (remembered["size"], remembered["failure"], remembered["lease_owner"]) == (256, UNDECODABLE, None)

    # The file is replaced behind the API's back by one that decodes: a request that decoded
    # again would now succeed; the remembered failure answers without looking.
    good = io.BytesIO()
    Image.new("RGB", (64, 48), "blue").save(good, format="PNG")
    stores.s3.put_object(Bucket=stores.bucket, Key=f"images/{image['id']}", Body=good.getvalue())
    again = api.thumbnail(image["id"])
    assert (again.status, again.body) == (422, first.body)
    assert counted.renders == 0

    # Other limits are another renderer: it tries again.
    with layer_env(monkeypatch, THUMBNAIL_MAX_DECODE_BYTES=str(512 * 1024 * 1024)):
        retried = api.thumbnail(image["id"])
    assert retried.status == 200
    assert counted.renders == 1
    assert render_rows(stores) == []


def test_if_none_match_star_answers_as_get_does(api: Api, stores: Stores) -> None:
    broken = api.upload_ok(png_declaring(64, 48, pixel_data=b"no deflate"), description="broken")
    for _ in range(2):  # before the failure is remembered, and after
        response = api.thumbnail(broken["id"], headers={"if-none-match": "*"})
        assert (response.status, json_of(response)) == (422, {"detail": UNDECODABLE})
    etag = f'"{stores.rows()[0]["sha256"][:32]}-256-r1"'  # what a 200 would carry
    assert api.thumbnail(broken["id"], headers={"if-none-match": etag}).status == 422

    good = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    response = api.thumbnail(good["id"], headers={"if-none-match": "*"})
    assert (response.status, response.body) == (304, b"")
    assert f"thumbnails/{good['id']}/256.webp" in stores.object_keys()  # made, as GET would


def test_deleting_the_image_removes_its_remembered_failure(api: Api, stores: Stores) -> None:
    image = api.upload_ok(png_declaring(64, 48, pixel_data=b"no deflate"), description="broken")
    assert api.thumbnail(image["id"], "size=128").status == 422
    assert api.thumbnail(image["id"], "size=512").status == 422
    assert [row["size"] for row in render_rows(stores)] == [128, 512]
    assert api.delete(image["id"]).status == 204
    assert render_rows(stores) == []
    assert stores.object_keys() == []
