"""The gallery page in a real browser (headless Chromium), against the dev server and the gateway
emulator with the real PostgreSQL and S3: upload real photos, watch them finish, browse, open,
compare, delete, and see the API's errors where they belong."""

from __future__ import annotations

import hashlib
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
SESSION_SKIP = (
    "POST /api/v1/uploads answers {status}: this API has no upload sessions yet, so a file above"
    " the single-request limit cannot be sent (the page says so next to the file)"
)


def upload_sessions(base_url: str) -> int:
    """The status of POST /api/v1/uploads: 404 or 405 while the route does not exist."""
    return httpx.post(f"{base_url}/api/v1/uploads", json={}, timeout=30).status_code


@pytest.fixture
def page(browser: Any, dev_server: str, stores: Stores, small_limit: int) -> Iterator[GalleryPage]:
    browser.set_window_size(1100, 900)
    yield GalleryPage(browser, dev_server)
    browser.execute_script("sessionStorage.clear()")


def test_upload_browse_open_and_delete(page: GalleryPage, stores: Stores, tmp_path: Path) -> None:
    sessions = upload_sessions(page.base_url) not in (404, 405)
    page.open("?limit=2")
    page.until(lambda _: page.status() == "No images yet.")

    # Three real photos and one above the single-request limit, picked at once.
    assert all(p.stat().st_size < LARGE.stat().st_size for p in SMALL)
    page.upload("Meadows and dunes", [*SMALL, LARGE])
    finished = {u["name"]: u for u in page.wait_for_uploads(4)}
    for photo in SMALL:
        assert finished[photo.name]["state"] == "done", finished[photo.name]
        assert finished[photo.name]["progress"] == 1  # the bar filled up
    if sessions:
        assert finished[LARGE.name]["state"] == "done", finished[LARGE.name]
    else:
        assert finished[LARGE.name]["state"] == "failed"
        assert "Too large" in finished[LARGE.name]["message"]
    uploaded = len(SMALL) + int(sessions)

    cards = page.wait_for_thumbnails(uploaded)
    assert page.status() == "That is all."
    assert all(c["alt"] == "Meadows and dunes" and c["width"] > 0 for c in cards)  # alt text: the description
    rows = stores.rows()
    assert len(rows) == uploaded
    for row in rows:  # every thumbnail the grid shows was made and stored
        assert f"thumbnails/{row['id']}/256.webp" in stores.object_keys()
    page.driver.set_window_size(1100, 1250)
    screenshot(page.driver, "gallery")

    # A text file renamed .jpg: refused, and the error shows next to that file.
    fake = tmp_path / "notes.jpg"
    fake.write_text("shopping list: bread, milk\n")
    page.upload("not a photo", [fake])
    [failed] = [u for u in page.wait_for_uploads(5) if u["name"] == "notes.jpg"]
    assert failed["state"] == "failed"
    assert failed["message"].startswith("Not a supported image: ")
    assert len(stores.rows()) == uploaded  # nothing stored for it
    screenshot(page.driver, "upload-error")

    # Newest first, two at a time: scrolling to the end loads the second page.
    page.driver.set_window_size(500, 500)
    page.open("?limit=2")
    page.until(lambda _: len(page.cards()) == 2 and page.pages_loaded() == 1)
    assert page.pages_loaded() == 1  # the end is out of view: nothing more is fetched yet
    page.scroll_to_end()
    page.until(lambda _: page.pages_loaded() >= 2 and len(page.cards()) >= 3, "no second page")
    newest_first = [str(r["id"]) for r in sorted(rows, key=lambda r: r["created_at"], reverse=True)]
    page.wait_for_thumbnails(uploaded)
    assert [c["id"] for c in page.cards()] == newest_first
    screenshot(page.driver, "second-page")

    # Open one with the keyboard: metadata, and the full image byte for byte.
    page.driver.set_window_size(1100, 900)
    aqua = next(r for r in rows if r["filename"].startswith("Aqua"))
    page.open_with_keyboard(str(aqua["id"]))
    shown = page.shown_image_bytes()
    original = (PHOTOS / "Aqua.jpg").read_bytes()
    assert shown == original and hashlib.sha256(shown).hexdigest() == aqua["sha256"]
    assert "2560 \N{MULTIPLICATION SIGN} 1600" in page.detail_text()
    screenshot(page.driver, "detail")

    # Delete it (after confirming): gone from the grid, and still gone after a reload.
    page.delete_shown()
    page.until(lambda _: str(aqua["id"]) not in [c["id"] for c in page.cards()])
    page.open()
    page.wait_for_thumbnails(uploaded - 1)
    assert str(aqua["id"]) not in [c["id"] for c in page.cards()]
    assert str(aqua["id"]) not in [str(r["id"]) for r in stores.rows()]
    assert not [k for k in stores.object_keys() if str(aqua["id"]) in k]  # file and thumbnails too


def test_large_photo_goes_through_an_upload_session(page: GalleryPage, stores: Stores) -> None:
    status = upload_sessions(page.base_url)
    if status in (404, 405):
        pytest.skip(SESSION_SKIP.format(status=status))
    page.open()
    page.upload("A dune", [LARGE])
    [done] = page.wait_for_uploads(1)
    assert done["state"] == "done", done
    [card] = page.wait_for_thumbnails(1)
    page.open_with_keyboard(card["id"])
    assert page.shown_image_bytes() == LARGE.read_bytes()


def test_token_is_asked_for_and_kept_for_the_tab(
    page: GalleryPage, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, API_TOKENS="gallery-secret-token-0123", MAX_UPLOAD_BYTES="1000000"):
        page.open()
        error = page.until(lambda d: d.find_element("id", "token-error").text)
        assert "needs a valid token" in error
        page.until(lambda _: page.status().startswith("Not authorised: "))
        screenshot(page.driver, "token-needed")
        token = page.driver.find_element("id", "token")
        token.send_keys("gallery-secret-token-0123")
        token.send_keys("\t")  # leaving the field stores it
        page.until(lambda _: page.status() == "No images yet.")
        page.upload("With a token", [SMALL[0]])
        [done] = page.wait_for_uploads(1)
        assert done["state"] == "done", done
        page.wait_for_thumbnails(1)
        page.open()  # a reload keeps the token: sessionStorage
        page.wait_for_thumbnails(1)
        assert page.js("return sessionStorage.getItem('apiToken')") == "gallery-secret-token-0123"


def test_the_page_works_through_the_gateway_emulator(
    browser: Any, gateway_server: str, stores: Stores, small_limit: int
) -> None:
    page = GalleryPage(browser, gateway_server)
    browser.set_window_size(1100, 900)
    page.open()
    page.drop("Through the gateway", [SMALL[1]])  # dragged and dropped, this time
    [done] = page.wait_for_uploads(1)
    assert done["state"] == "done", done
    [card] = page.wait_for_thumbnails(1)
    page.open_with_keyboard(card["id"])
    assert page.shown_image_bytes() == SMALL[1].read_bytes()
    screenshot(browser, "gateway")
