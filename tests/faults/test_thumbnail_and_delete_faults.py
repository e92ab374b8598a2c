"""Faults during deletion and thumbnailing, injected for real: S3 cutting every connection,
PostgreSQL refusing connections. A deletion never leaves a row pointing at nothing; what it
could not remove, reconcile does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from imageapi.store.reconcile import reconcile
from tests.conftest import Stores
from tests.faults.test_faults import assert_unavailable, database_refusing, use
from tests.support.api import Api
from tests.support.faults import cutting_proxy
from tests.support.layer import reset_layer_caches
from tests.support.photos import photo
from tests.support.targets import Target


@pytest.fixture(autouse=True)
def restore_caches() -> Iterator[None]:
    yield
    reset_layer_caches()


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def test_s3_down_during_delete_still_deletes_and_reconcile_removes_the_files(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    assert api.thumbnail(image["id"]).status == 200
    with cutting_proxy(services["S3_ENDPOINT_URL"]) as proxy, monkeypatch.context() as patch:
        use(patch, S3_ENDPOINT_URL=proxy.url)
        proxy.cut_after = 0  # every request to S3 fails
        response = api.delete(image["id"])
        assert proxy.cuts > 0
    reset_layer_caches()
    assert response.status == 204  # the image is gone for every client: its row is
    assert stores.rows() == []
    left = [f"images/{image['id']}", f"thumbnails/{image['id']}/256.webp"]
    assert stores.object_keys() == left
    assert api.get(image["id"]).status == 404

    # every key here is an orphan, so the share that stops a run must allow them all
    report = reconcile(apply=True, grace=timedelta(0), max_share=1)
    assert report.stopped is None
    assert report.objects_without_rows == [left[0]]
    assert report.thumbnails_without_rows == [left[1]]
    assert stores.object_keys() == []


def test_database_down_during_delete_is_503_and_deletes_nothing(
    api: Api, stores: Stores, services: dict[str, str]
) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    assert api.thumbnail(image["id"]).status == 200
    with database_refusing(services):
        response = api.delete(image["id"])
    assert_unavailable(response, "database is unavailable")
    assert len(stores.rows()) == 1 and len(stores.object_keys()) == 2
    assert api.download(image["id"]).status == 200


def test_s3_down_during_thumbnail_is_503(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    with cutting_proxy(services["S3_ENDPOINT_URL"]) as proxy, monkeypatch.context() as patch:
        use(patch, S3_ENDPOINT_URL=proxy.url)
        proxy.cut_after = 0
        response = api.thumbnail(image["id"])
    assert_unavailable(response, "object storage is unavailable")
    assert stores.object_keys() == [f"images/{image['id']}"]


def test_reconcile_keeps_thumbnails_of_existing_images(api: Api, stores: Stores) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")
    assert api.thumbnail(image["id"], "size=128").status == 200
    report = reconcile(apply=True, grace=timedelta(0))
    assert report.thumbnails_without_rows == [] and report.objects_without_rows == []
    assert len(stores.object_keys()) == 2
