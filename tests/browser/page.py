"""The gallery page as the tests drive it: what a person does, and what they would see."""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# Generous: the machine may be loaded. Every wait ends as soon as its condition holds.
WAIT_SECONDS = 120
TYPES = {".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif", ".webp": "image/webp"}

READ_BLOB = """
const [url, done] = arguments;
fetch(url).then((r) => r.arrayBuffer()).then((buffer) => {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  done(btoa(text));
}).catch((error) => done("error: " + error));
"""

# Files dragged from a file manager and let go over the page: events on the body, as the browser
# sends them wherever the pointer happens to be.
DROP_FILES = """
const transfer = new DataTransfer();
for (const file of arguments[0]) {
  const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], file.name, { type: file.type }));
}
for (const type of ["dragenter", "dragover", "drop"]) {
  const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
  document.body.dispatchEvent(new DragEvent(type, init));
}
"""

CARDS = """return [...document.querySelectorAll('#grid li')].map((li) => {
    const img = li.querySelector('img');
    const box = li.getBoundingClientRect();
    return {id: li.dataset.id, loaded: li.dataset.loaded || '', alt: img.alt, width: img.naturalWidth,
            height: img.naturalHeight, caption: li.querySelector('.caption').textContent,
            box_width: box.width, box_height: box.height};
})"""


def media_type(path: Path) -> str:
    return TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@dataclass
class GalleryPage:
    driver: Any
    base_url: str

    def open(self, query: str = "") -> None:
        self.driver.get(f"{self.base_url}/{query}")
        self.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def until(self, condition: Any, message: str = "") -> Any:
        return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.2).until(condition, message)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def element(self, css: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Exactly this many CSS pixels of page (a window's size also counts its frame)."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)

    def reset_viewport(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def visible(self, css: str) -> bool:
        return bool(
            self.js("const e = document.querySelector(arguments[0]); return !!e && e.checkVisibility()", css)
        )

    # --- upload ------------------------------------------------------------------------
    def pick(self, files: list[Path]) -> None:
        """Chooses files in the file picker (Add photos): nothing else to type or press."""
        self.element("#files").send_keys("\n".join(str(f) for f in files))

    def drop(self, files: list[Path]) -> None:
        """Drags the files onto the page, as a person dragging them from a file manager."""
        dropped = [
            {"name": f.name, "type": media_type(f), "data": base64.b64encode(f.read_bytes()).decode()}
            for f in files
        ]
        self.js(DROP_FILES, dropped)

    def uploads(self) -> list[dict[str, Any]]:
        return list(
            self.js(
                """return [...document.querySelectorAll('#queue li')].map((li) => ({
                    name: li.dataset.filename, state: li.dataset.state, progress: Number(li.dataset.progress),
                    message: li.querySelector('.message').textContent}))"""
            )
        )

    def wait_for_uploads(self, count: int) -> list[dict[str, Any]]:
        """Once count files have finished (done or failed): each one's name, state, progress and message."""
        return self.until(
            lambda _: (
                (items := self.uploads())
                and len(items) >= count
                and all(i["state"] in ("done", "failed") for i in items)
                and items
            ),
            f"{count} uploads did not finish",
        )

    def tray_collapsed(self) -> bool:
        return bool(self.js("return document.getElementById('tray').classList.contains('collapsed')"))

    # --- grid --------------------------------------------------------------------------
    def cards(self) -> list[dict[str, Any]]:
        return list(self.js(CARDS))

    def wait_for_thumbnails(self, count: int) -> list[dict[str, Any]]:
        return self.until(
            lambda _: (
                (cards := self.cards())
                and len(cards) == count
                and all(c["loaded"] == "true" for c in cards)
                and cards
            ),
            f"{count} thumbnails did not appear",
        )

    def status(self) -> str:
        """The line under the grid: loading, the end, no images, or an error."""
        return str(self.js("return document.getElementById('more').textContent"))

    def pages_loaded(self) -> int:
        return int(self.js("return document.getElementById('more').dataset.pages || '0'"))

    def scroll_to_end(self) -> None:
        self.js("window.scrollTo(0, document.body.scrollHeight)")

    def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
        return int(
            self.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        )

    # --- captions ----------------------------------------------------------------------
    def edit_caption(self, image_id: str, text: str) -> None:
        """Clicks the card's caption, replaces its text, presses Enter."""
        self.element(f'#grid li[data-id="{image_id}"] .caption').click()
        field = self.until(
            lambda d: d.find_element(By.CSS_SELECTOR, f'#grid li[data-id="{image_id}"] form input')
        )
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(text, Keys.ENTER)

    def caption(self, image_id: str) -> str:
        return str(self.element(f'#grid li[data-id="{image_id}"] .caption').text)

    def notice(self) -> str:
        return str(self.js("return document.getElementById('notice').textContent"))

    # --- lightbox ----------------------------------------------------------------------
    def open_with_keyboard(self, image_id: str) -> None:
        self.element(f'#grid li[data-id="{image_id}"] .open').send_keys(Keys.ENTER)
        self.wait_for_lightbox(image_id)

    def wait_for_lightbox(self, image_id: str) -> dict[str, Any]:
        return self.until(
            lambda _: (
                (shown := self.lightbox())["open"] and shown["id"] == image_id and shown["loaded"] and shown
            ),
            f"the lightbox did not show {image_id}",
        )

    def lightbox(self) -> dict[str, Any]:
        return dict(
            self.js(
                """const img = document.getElementById('lightbox-image');
                return {open: document.getElementById('lightbox').open, id: img.dataset.id || '',
                        loaded: img.dataset.loaded === 'true',
                        width: img.naturalWidth, height: img.naturalHeight,
                        meta: document.getElementById('lightbox-meta').textContent}"""
            )
        )

    def press(self, key: str) -> None:
        """A key pressed wherever the focus is."""
        self.driver.switch_to.active_element.send_keys(key)

    def shown_image_bytes(self) -> bytes:
        """The lightbox picture's bytes, read back from the very blob the page shows."""
        url = self.element("#lightbox-image").get_attribute("src")
        encoded = self.driver.execute_async_script(READ_BLOB, url)
        assert not encoded.startswith("error"), encoded
        return base64.b64decode(encoded)

    def fetched_urls(self) -> list[str]:
        return list(self.js("return performance.getEntriesByType('resource').map((e) => e.name)"))

    def delete_shown(self) -> None:
        self.element("#lightbox-delete").click()
        alert = self.until(lambda d: d.switch_to.alert)
        assert "cannot be undone" in alert.text
        alert.accept()
        self.until(lambda _: not self.lightbox()["open"])
