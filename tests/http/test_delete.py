"""DELETE /api/v1/images/{id} on every target: 204 then 404; the row, the object and every
thumbnail are gone."""

from __future__ import annotations

import pytest

from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.photos import photo
from tests.support.targets import Target


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def test_delete_removes_row_object_and_thumbnails_then_404(api: Api, stores: Stores) -> None:
    kept = api.upload_ok(make_image("PNG"), description="kept")
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="to delete")
    for size in (128, 256):
        assert api.thumbnail(image["id"], f"size={size}").status == 200
    assert len(stores.object_keys()) == 4

    response = api.delete(image["id"])
    assert (response.status, response.body) == (204, b"")
    assert [str(r["id"]) for r in stores.rows()] == [kept["id"]]
    assert stores.object_keys() == [f"images/{kept['id']}"]

    again = api.delete(image["id"])
    assert again.status == 404 and json_of(again)["detail"] == "Image not found"
    assert api.get(image["id"]).status == 404
    assert api.download(image["id"]).status == 404
    assert api.thumbnail(image["id"]).status == 404
    assert [i["id"] for i in json_of(api.list())["items"]] == [kept["id"]]


def test_delete_of_unknown_or_malformed_id(api: Api, stores: Stores) -> None:
    api.upload_ok(make_image("PNG"), description="kept")
    assert api.delete("00000000-0000-4000-8000-000000000000").status == 404
    assert api.delete("not-a-uuid").status == 422
    assert len(stores.rows()) == 1 and len(stores.object_keys()) == 1
