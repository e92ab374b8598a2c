"""GET /api/v1/images/{id}/thumbnail on every target: made on the first request from the real
file, stored under thumbnails/<id>/<size>.webp, served from there afterwards."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import Stores
from tests.support import corpus
from tests.support.api import Api, json_of
from tests.support.images import make_image, png_declaring
from tests.support.layer import layer_env
from tests.support.photos import photo
from tests.support.targets import Target


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_first_request_makes_and_stores_it_later_ones_are_served_from_the_bucket(
    api: Api, stores: Stores
) -> None:
    image = api.upload_ok(photo("Aqua.jpg"), description="Aqua")  # 2560 x 1600
    assert image["thumbnail_url"].endswith(f"/api/v1/images/{image['id']}/thumbnail?size=256")
    assert stores.object_keys() == [f"images/{image['id']}"]

    first = api.thumbnail(image["id"])  # size defaults to 256
    assert first.status == 200, first.body
    assert first.header("content-type") == "image/webp"
    thumb = decoded(first.body)
    assert (thumb.format, thumb.size) == ("WEBP", (256, 160))
    assert f"thumbnails/{image['id']}/256.webp" in stores.object_keys()

    etag = first.header("etag")
    assert etag and etag.startswith('"') and not etag.startswith("W/")  # strong
    assert "max-age=31536000" in (first.header("cache-control") or "")
    again = api.thumbnail(image["id"], "size=256")
    assert (again.status, again.body, again.header("etag")) == (200, first.body, etag)

    # served from the bucket: what is stored there is what comes back
    stored = stores.s3.get_object(Bucket=stores.bucket, Key=f"thumbnails/{image['id']}/256.webp")
    assert stored["Body"].read() == first.body
    not_modified = api.thumbnail(image["id"], "size=256", headers={"if-none-match": etag})
    assert (not_modified.status, not_modified.body) == (304, b"")


@pytest.mark.parametrize("size", [128, 512, 1024])
def test_each_size_bounds_the_longest_side(api: Api, stores: Stores, size: int) -> None:
    image = api.upload_ok(photo("GreenMeadow.jpg"), description="meadow")  # 1280 x 1024
    response = api.thumbnail(image["id"], f"size={size}")
    assert response.status == 200, response.body
    assert max(decoded(response.body).size) == size
    assert f"thumbnails/{image['id']}/{size}.webp" in stores.object_keys()


@pytest.mark.parametrize("query", ["size=300", "size=0", "size=-1", "size=big", "size=100000"])
def test_sizes_outside_the_fixed_list_are_refused(api: Api, stores: Stores, query: str) -> None:
    image = api.upload_ok(make_image("PNG"), description="x")
    response = api.thumbnail(image["id"], query)
    assert response.status == 422
    assert "size" in str(json_of(response)["detail"])
    assert stores.object_keys() == [f"images/{image['id']}"]  # nothing rendered


def test_orientation_is_applied(api: Api) -> None:
    image = api.upload_ok(corpus.read("pillow-orientation_rectangle.jpg"), description="rotated")
    assert (image["width"], image["height"]) == (2, 1)  # as stored
    response = api.thumbnail(image["id"], "size=128")
    assert decoded(response.body).size == (1, 2)  # as shown: orientation 8 turns it


def test_cmyk_and_animation_become_rgb_first_frame(api: Api) -> None:
    # A real photo saved as a CMYK JPEG, so its colours can be compared with the RGB original.
    out = io.BytesIO()
    decoded(photo("GreenMeadow.jpg")).convert("CMYK").save(out, format="JPEG", quality=90)
    cmyk = api.upload_ok(out.getvalue(), description="cmyk")
    thumb = decoded(api.thumbnail(cmyk["id"], "size=128").body)
    assert thumb.mode == "RGB" and thumb.size == (128, 102)
    meadow = decoded(photo("GreenMeadow.jpg")).resize(thumb.size)
    assert _mean_difference(meadow, thumb) < 16  # colours kept, not inverted

    animated = api.upload_ok(corpus.read("pillow-iss634.gif"), description="animated")
    response = api.thumbnail(animated["id"], "size=128")
    thumb = decoded(response.body)
    assert getattr(thumb, "n_frames", 1) == 1
    with Image.open(io.BytesIO(corpus.read("pillow-iss634.gif"))) as original:
        first = original.convert("RGB").resize(thumb.size)
    assert _mean_difference(first, thumb) < 12  # the first frame (WebP is lossy)


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel value, 0-255."""
    left, right = a.convert("RGB").tobytes(), b.convert("RGB").tobytes()
    return sum(abs(x - y) for x, y in zip(left, right, strict=True)) / len(left)


def test_a_file_that_cannot_be_decoded_gets_422_and_stays_downloadable(api: Api, stores: Stores) -> None:
    # Every chunk well formed (the upload checks that), but the pixel data is not zlib data.
    broken = png_declaring(64, 48, pixel_data=b"these bytes are no deflate stream at all")
    image = api.upload_ok(broken, description="cut short")
    response = api.thumbnail(image["id"])
    assert response.status == 422
    assert "cannot be decoded" in json_of(response)["detail"]
    assert stores.object_keys() == [f"images/{image['id']}"]  # no thumbnail stored
    download = api.download(image["id"])
    assert (download.status, download.body) == (200, broken)


def test_unknown_and_malformed_ids(api: Api) -> None:
    assert api.thumbnail("00000000-0000-4000-8000-000000000000").status == 404
    assert api.thumbnail("not-a-uuid").status == 422


def test_above_thumbnail_max_pixels_is_422_and_the_original_stays(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = api.upload_ok(photo("Aqua.jpg"), description="Aqua")  # 2560 x 1600 = 4,096,000 pixels
    with layer_env(monkeypatch, THUMBNAIL_MAX_PIXELS="4000000"):
        response = api.thumbnail(image["id"])
    assert response.status == 422
    assert json_of(response)["detail"] == "No thumbnail: the image has more than 4000000 pixels"
    assert stores.object_keys() == [f"images/{image['id']}"]
    assert api.download(image["id"]).body == photo("Aqua.jpg")
