"""What a person expects of a photo gallery, in headless Chromium over the real stores: a drop
anywhere starts uploads captioned with the file names, HEIC shows decoded, photos keep their
upright shape, captions are edited in place, the lightbox follows the keyboard, a phone's width
fits, and all of it under a Content-Security-Policy without 'unsafe-inline' scripts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import screenshot
from tests.browser.page import GalleryPage
from tests.conftest import Stores
from tests.support.photos import PHOTOS

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "files"
LANDSCAPE = PHOTOS / "GreenMeadow.jpg"  # 1280 x 1024
PORTRAIT_HEIC = CORPUS / "exiv2-2021-02-13-1929.heic"  # stored 4032 x 3024, orientation 6: upright portrait
PORTRAIT_JPEG = CORPUS / "exiv2-exiv2-bug922.jpg"  # 1536 x 2048
SMALL_HEIC = CORPUS / "libheif-example.heic"  # 1280 x 854
# Stored 427 x 640 with no orientation in the metadata, yet rotated by its own irot box: the API
# draws it 640 x 427. The grid follows the picture.
ROTATED_AVIF = CORPUS / "pillow-rot1mir0.avif"
LARGE = PHOTOS / "Dune.jpg"  # above the single-request limit: an upload session


@pytest.fixture
def page(browser: Any, dev_server: str, stores: Stores, small_limit: int) -> Iterator[GalleryPage]:
    browser.set_window_size(1280, 900)
    page = GalleryPage(browser, dev_server)
    yield page
    page.reset_viewport()
    browser.execute_script("sessionStorage.clear()")


def uploaded(page: GalleryPage, files: list[Path]) -> dict[str, dict[str, Any]]:
    """Drops the files on the page; once their thumbnails show, each card by its caption."""
    page.open()
    page.drop(files)
    finished = page.wait_for_uploads(len(files))
    assert all(u["state"] == "done" for u in finished), finished
    return {c["caption"]: c for c in page.wait_for_thumbnails(len(files))}


def upright_ratio(image: dict[str, Any]) -> float:
    turned = (image["orientation"] or 1) >= 5
    return image["height"] / image["width"] if turned else image["width"] / image["height"]


def test_a_drop_on_the_page_uploads_at_once_captioned_with_the_file_names(
    page: GalleryPage, stores: Stores
) -> None:
    page.open()
    assert page.js("return document.activeElement === document.body")  # nothing typed, nothing focused
    page.drop([LANDSCAPE, SMALL_HEIC])
    finished = {u["name"]: u for u in page.wait_for_uploads(2)}
    assert {name: u["state"] for name, u in finished.items()} == {
        LANDSCAPE.name: "done",
        SMALL_HEIC.name: "done",
    }
    assert page.tray_collapsed()
    cards = page.wait_for_thumbnails(2)
    assert sorted(c["caption"] for c in cards) == sorted([LANDSCAPE.name, SMALL_HEIC.name])
    assert sorted(r["description"] for r in stores.rows()) == sorted([LANDSCAPE.name, SMALL_HEIC.name])


def test_heic_opens_in_the_lightbox_as_a_decoded_picture(page: GalleryPage) -> None:
    cards = uploaded(page, [PORTRAIT_HEIC, SMALL_HEIC])  # the first through an upload session
    for name in (PORTRAIT_HEIC.name, SMALL_HEIC.name):
        assert cards[name]["width"] > 0  # the grid's thumbnail decoded too
        page.open_with_keyboard(cards[name]["id"])
        shown = page.lightbox()
        assert shown["width"] > 0 and shown["height"] > 0
        page.press(Keys.ESCAPE)
        page.until(lambda _: not page.lightbox()["open"])
    page.open_with_keyboard(cards[PORTRAIT_HEIC.name]["id"])
    shown = page.lightbox()
    assert max(shown["width"], shown["height"]) == 1024 and shown["height"] > shown["width"]  # upright


def test_photos_keep_their_upright_shape_in_the_grid(page: GalleryPage) -> None:
    cards = uploaded(page, [LANDSCAPE, PORTRAIT_HEIC, PORTRAIT_JPEG, ROTATED_AVIF])
    listing = httpx.get(f"{page.base_url}/api/v1/images/", timeout=30).json()["items"]
    images = {i["filename"]: i for i in listing}
    for name in (LANDSCAPE.name, PORTRAIT_HEIC.name, PORTRAIT_JPEG.name):
        card, expected = cards[name], upright_ratio(images[name])
        assert card["box_width"] / card["box_height"] == pytest.approx(expected, rel=0.03), name
        assert card["width"] / card["height"] == pytest.approx(expected, rel=0.03), name  # as the API drew it
    assert cards[LANDSCAPE.name]["box_width"] > cards[LANDSCAPE.name]["box_height"]
    assert cards[PORTRAIT_HEIC.name]["box_width"] < cards[PORTRAIT_HEIC.name]["box_height"]

    # An AVIF stored 427x640 whose irot turns it: the metadata's orientation and the thumbnail agree.
    drawn = cards[ROTATED_AVIF.name]["width"] / cards[ROTATED_AVIF.name]["height"]
    assert drawn == pytest.approx(640 / 427, rel=0.03)
    assert upright_ratio(images[ROTATED_AVIF.name]) == pytest.approx(drawn, rel=0.03)
    card = cards[ROTATED_AVIF.name]
    assert card["box_width"] / card["box_height"] == pytest.approx(drawn, rel=0.03)

    def rotated_box() -> float:
        card = next(c for c in page.cards() if c["caption"] == ROTATED_AVIF.name)
        return float(card["box_width"] / card["box_height"])

    page.until(lambda _: rotated_box() == pytest.approx(drawn, rel=0.03), "the card kept the stored shape")


def test_a_caption_is_edited_in_place_and_saved_through_the_api(page: GalleryPage) -> None:
    """Needs PATCH /api/v1/images/{id} with If-Match (built on another branch)."""
    cards = uploaded(page, [LANDSCAPE])
    image_id = cards[LANDSCAPE.name]["id"]
    page.edit_caption(image_id, "Spring grass by the river")
    assert page.until(lambda _: page.notice(), "no word on the save") == "Caption saved."
    assert page.caption(image_id) == "Spring grass by the river"
    api = f"{page.base_url}/api/v1/images/{image_id}"
    assert httpx.get(api, timeout=30).json()["description"] == "Spring grass by the river"

    # Someone else saves while the editor is open: the save answers 412, the caption reloads.
    page.element(f'#grid li[data-id="{image_id}"] .caption').click()
    # Once the editor holds the version it edits (its ETag), someone else saves theirs.
    editor = f'#grid li[data-id="{image_id}"] form[data-ready="true"] input'
    field = page.until(lambda d: d.find_element("css selector", editor))
    current = httpx.get(api, timeout=30)
    changed = httpx.patch(
        api, json={"description": "Their caption"}, headers={"If-Match": current.headers["ETag"]}, timeout=30
    )
    assert changed.status_code == 200
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("My caption", Keys.ENTER)
    page.until(lambda _: "Someone else changed this caption" in page.notice())
    assert page.caption(image_id) == "Their caption"
    assert httpx.get(api, timeout=30).json()["description"] == "Their caption"


def test_the_lightbox_follows_arrow_keys_and_closes_on_escape(page: GalleryPage, stores: Stores) -> None:
    uploaded(page, [LANDSCAPE, SMALL_HEIC, PHOTOS / "Aqua.jpg"])
    order = [c["id"] for c in page.cards()]  # newest first
    # Tab from the top: the two header buttons, then each photo and its caption, in grid order.
    focused = (
        "const e = document.activeElement;"
        " return (e.closest('li')?.dataset.id || '') + ' ' + e.className + e.id"
    )
    stops = []
    for _ in range(6):
        page.press(Keys.TAB)
        stops.append(page.js(focused))
    assert stops == [
        " add",
        " plainsettings-toggle",
        *[f"{image_id} {kind}" for image_id in order[:2] for kind in ("open", "caption")],
    ]
    assert page.js("return getComputedStyle(document.activeElement).outlineStyle") == "solid"  # visible
    page.open_with_keyboard(order[0])
    page.press(Keys.ARROW_RIGHT)
    page.wait_for_lightbox(order[1])
    page.press(Keys.ARROW_RIGHT)
    page.wait_for_lightbox(order[2])
    page.press(Keys.ARROW_RIGHT)  # the last one: stays
    page.press(Keys.ARROW_LEFT)
    page.wait_for_lightbox(order[1])
    page.press(Keys.ESCAPE)
    page.until(lambda _: not page.lightbox()["open"])
    # The focus returns to the photo last shown, so the keyboard carries on from there. The
    # dialog's `close` event, which moves it, comes a task after `open` is gone: wait for it.
    active = "return document.activeElement.closest('li')?.dataset.id"
    page.until(lambda _: page.js(active) == order[1], "the focus did not return to the photo last shown")
    page.press(Keys.SPACE)
    page.wait_for_lightbox(order[1])


def test_a_phone_width_fits_without_sideways_scrolling(page: GalleryPage) -> None:
    page.viewport(390, 844, mobile=True)
    uploaded(page, [LANDSCAPE, PORTRAIT_JPEG, SMALL_HEIC])
    assert page.js("return window.innerWidth") == 390
    assert page.horizontal_overflow() == 0
    page.element("#settings-toggle").click()
    assert page.visible("#settings") and page.horizontal_overflow() == 0
    page.press(Keys.ESCAPE)
    page.open_with_keyboard(page.cards()[0]["id"])
    assert page.horizontal_overflow() == 0


def test_the_policy_allows_no_inline_script_and_upload_sessions_still_work(
    page: GalleryPage, stores: Stores
) -> None:
    response = httpx.get(page.base_url + "/", timeout=30)
    policy = dict(d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
    assert "'unsafe-inline'" not in policy["script-src"] and policy["script-src"].startswith("'sha256-")
    assert "*" not in policy["connect-src"] and policy["connect-src"].startswith("'self' ")
    page.open()
    page.pick([LARGE])  # above the single-request limit: PUT straight to the bucket
    [done] = page.wait_for_uploads(1)
    assert done["state"] == "done", done
    page.wait_for_thumbnails(1)
    assert len(stores.upload_sessions()) == 1
    refused = [
        e["message"] for e in page.driver.get_log("browser") if "Content Security Policy" in e["message"]
    ]
    assert not refused


def settled(page: GalleryPage) -> bool:
    """Every thumbnail decoded and faded in: what a person sees once the page is still."""
    faded_in = (
        "return [...document.querySelectorAll('#grid img')].every((i) => getComputedStyle(i).opacity == 1)"
    )
    return bool(page.js(faded_in))


def test_screenshots_with_real_photos(page: GalleryPage) -> None:
    """docs/screenshots/ holds these two (gallery-1280, gallery-390), compressed; the others are
    for looking at after a run."""
    page.viewport(390, 844, mobile=True)
    page.open()
    page.until(lambda _: page.visible("#empty"))
    screenshot(page.driver, "empty-390")
    page.viewport(1280, 900)
    photos = [
        LANDSCAPE,
        PORTRAIT_HEIC,
        PHOTOS / "Aqua.jpg",
        PHOTOS / "FreshFlower.jpg",
        PORTRAIT_JPEG,
        SMALL_HEIC,
    ]
    uploaded(page, [*photos, LARGE])
    page.until(lambda _: settled(page))
    screenshot(page.driver, "gallery-1280")  # the tray folded to its one line
    page.viewport(390, 844, mobile=True)
    page.open()
    page.wait_for_thumbnails(len(photos) + 1)
    page.until(lambda _: settled(page))
    screenshot(page.driver, "gallery-390")
    page.open_with_keyboard(page.cards()[1]["id"])
    screenshot(page.driver, "lightbox-390")
    page.press(Keys.ESCAPE)
    page.element("#settings-toggle").click()
    screenshot(page.driver, "settings-390")
