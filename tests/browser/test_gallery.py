"""The gallery page in a real browser (headless Chromium), against the dev server and the gateway
emulator with the real PostgreSQL and S3: upload real photos, watch them finish, browse, open,
delete, and see the API's errors where they belong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import screenshot
from tests.browser.page import GalleryPage
from tests.conftest import Stores
from tests.support.layer import layer_env
from tests.support.photos import PHOTOS

SMALL = [PHOTOS / "GreenMeadow.jpg", PHOTOS / "Aqua.jpg", PHOTOS / "FreshFlower.jpg"]
LARGE = PHOTOS / "Dune.jpg"  # above the single-request limit of these tests


@pytest.fixture
def page(browser: Any, dev_server: str, stores: Stores, small_limit: int) -> Iterator[GalleryPage]:
    browser.set_window_size(1100, 900)
    yield GalleryPage(browser, dev_server)
    browser.execute_script("sessionStorage.clear()")


def test_upload_browse_open_and_delete(page: GalleryPage, stores: Stores, tmp_path: Path) -> None:
    page.open("?limit=2")
    page.until(lambda _: page.status() == "No images yet.")
    assert page.visible("#empty")  # says what to do: drop or choose photos

    # Three real photos and one above the single-request limit, picked at once: they start by
    # themselves, each captioned with its file name.
    assert all(p.stat().st_size < LARGE.stat().st_size for p in SMALL)
    page.pick([*SMALL, LARGE])
    finished = {u["name"]: u for u in page.wait_for_uploads(4)}
    for photo in [*SMALL, LARGE]:
        assert finished[photo.name]["state"] == "done", finished[photo.name]
        assert finished[photo.name]["progress"] == 1  # the ring filled up
    assert page.tray_collapsed()  # all done: the tray folds to one line

    cards = page.wait_for_thumbnails(4)
    assert page.status() == "That is all." and not page.visible("#empty")
    assert sorted(c["caption"] for c in cards) == sorted(p.name for p in [*SMALL, LARGE])
    assert all(c["alt"] == c["caption"] and c["width"] > 0 for c in cards)
    rows = stores.rows()
    assert sorted(r["description"] for r in rows) == sorted(p.name for p in [*SMALL, LARGE])
    screenshot(page.driver, "gallery")

    # A text file renamed .jpg: refused, the error next to that file, the tray left open.
    fake = tmp_path / "notes.jpg"
    fake.write_text("shopping list: bread, milk\n")
    page.pick([fake])
    [failed] = [u for u in page.wait_for_uploads(1) if u["name"] == "notes.jpg"]
    assert failed["state"] == "failed"
    assert failed["message"].startswith("Not a supported image: ")
    assert not page.tray_collapsed() and len(page.uploads()) == 1  # the finished rows tidied away
    assert len(stores.rows()) == 4  # nothing stored for it
    screenshot(page.driver, "upload-error")

    # Newest first, two at a time: the grid follows `next` while its end is in view, so the
    # short second page comes too, in order.
    page.open("?limit=2")
    page.until(lambda _: page.pages_loaded() == 2 and page.status() == "That is all.", "no second page")
    newest_first = [str(r["id"]) for r in sorted(rows, key=lambda r: r["created_at"], reverse=True)]
    page.wait_for_thumbnails(4)
    assert [c["id"] for c in page.cards()] == newest_first

    # Open one with the keyboard: the 1024 rendition, never the original; the original is a link.
    aqua = next(r for r in rows if r["filename"] == "Aqua.jpg")
    page.open_with_keyboard(str(aqua["id"]))
    rendition = httpx.get(f"{page.base_url}/api/v1/images/{aqua['id']}/thumbnail?size=1024", timeout=30)
    assert page.shown_image_bytes() == rendition.content and rendition.content[8:12] == b"WEBP"
    assert (page.lightbox()["width"], page.lightbox()["height"]) == (1024, 640)
    assert not [u for u in page.fetched_urls() if u.endswith("/file")]
    link = page.element("#lightbox-download")
    assert link.get_attribute("href").endswith(f"/api/v1/images/{aqua['id']}/file")
    assert link.get_attribute("download") == "Aqua.jpg"
    assert "2560 \N{MULTIPLICATION SIGN} 1600" in page.lightbox()["meta"]
    screenshot(page.driver, "lightbox")

    # Delete it (after confirming): gone from the grid, and still gone after a reload.
    page.delete_shown()
    page.until(lambda _: str(aqua["id"]) not in [c["id"] for c in page.cards()])
    page.open()
    page.wait_for_thumbnails(3)
    assert str(aqua["id"]) not in [c["id"] for c in page.cards()]
    assert str(aqua["id"]) not in [str(r["id"]) for r in stores.rows()]
    assert not [k for k in stores.object_keys() if str(aqua["id"]) in k]  # file and thumbnails too


def test_token_is_asked_for_in_settings_and_kept_for_the_tab(
    page: GalleryPage, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, API_TOKENS="gallery-secret-token-0123", MAX_UPLOAD_BYTES="1000000"):
        page.open()
        assert not page.visible("#token") or page.visible("#settings")
        # The API answers 401: the settings popover opens by itself, its field focused.
        page.until(lambda _: page.visible("#settings"))
        assert "needs an API token" in page.element("#token-error").text
        assert page.js("return document.activeElement.id") == "token"
        page.until(lambda _: page.status().startswith("Not authorised: "))
        screenshot(page.driver, "token-needed")
        page.press("gallery-secret-token-0123\n")  # typed into the focused field, Enter saves
        page.until(lambda _: page.status() == "No images yet.")
        assert not page.visible("#settings")
        page.pick([SMALL[0]])
        [done] = page.wait_for_uploads(1)
        assert done["state"] == "done", done
        page.wait_for_thumbnails(1)
        page.open()  # a reload keeps the token: sessionStorage
        page.wait_for_thumbnails(1)
        assert page.js("return sessionStorage.getItem('apiToken')") == "gallery-secret-token-0123"
        assert not page.visible("#settings")


def test_the_page_works_through_the_gateway_emulator(
    browser: Any, gateway_server: str, stores: Stores, small_limit: int
) -> None:
    page = GalleryPage(browser, gateway_server)
    browser.set_window_size(1100, 900)
    page.open()
    page.drop([SMALL[1]])
    [done] = page.wait_for_uploads(1)
    assert done["state"] == "done", done
    [card] = page.wait_for_thumbnails(1)
    page.open_with_keyboard(card["id"])
    assert page.lightbox()["width"] == 1024
    screenshot(browser, "gateway")
