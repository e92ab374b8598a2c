"""The gallery page as the tests drive it: what a person does, and what they would see."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# Generous: the machine may be loaded. Every wait ends as soon as its condition holds.
WAIT_SECONDS = 120

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


DROP_FILES = """
const transfer = new DataTransfer();
for (const file of arguments[0]) {
  const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], file.name, { type: file.type }));
}
const zone = document.getElementById("drop");
for (const type of ["dragenter", "dragover", "drop"]) {
  zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
}
"""


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

    # --- upload ------------------------------------------------------------------------
    def upload(self, description: str, files: list[Path]) -> None:
        field = self.driver.find_element(By.ID, "description")
        field.clear()
        field.send_keys(description)
        self.driver.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
        self.driver.find_element(By.ID, "send").click()

    def drop(self, description: str, files: list[Path]) -> None:
        """Drags the files onto the drop zone, as a person dragging them from a file manager;
        with a description typed, the page starts uploading on the drop."""
        field = self.driver.find_element(By.ID, "description")
        field.clear()
        field.send_keys(description)
        dropped = [
            {"name": f.name, "type": "image/jpeg", "data": base64.b64encode(f.read_bytes()).decode()}
            for f in files
        ]
        self.js(DROP_FILES, dropped)

    def wait_for_uploads(self, count: int) -> list[dict[str, Any]]:
        """Once count files have finished (done or failed): each one's name, state, bar and message."""
        script = """return [...document.querySelectorAll('#queue li')].map((li) => ({
            name: li.dataset.filename, state: li.classList.contains('done') ? 'done'
              : li.classList.contains('failed') ? 'failed' : 'busy',
            progress: li.querySelector('progress').value,
            message: li.querySelector('.message').textContent}))"""
        return self.until(
            lambda _: (
                (items := self.js(script))
                and len(items) >= count
                and all(i["state"] != "busy" for i in items)
                and items
            ),
            f"{count} uploads did not finish",
        )

    # --- grid --------------------------------------------------------------------------
    def cards(self) -> list[dict[str, Any]]:
        return self.js(
            """return [...document.querySelectorAll('#grid li')].map((li) => {
                const img = li.querySelector('img');
                return {id: li.dataset.id, loaded: li.dataset.loaded || '', alt: img.alt,
                        width: img.naturalWidth,
                        label: li.querySelector('button').getAttribute('aria-label')};
            })"""
        )

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

    # --- detail ------------------------------------------------------------------------
    def open_with_keyboard(self, image_id: str) -> None:
        button = self.driver.find_element(By.CSS_SELECTOR, f'#grid li[data-id="{image_id}"] button')
        button.send_keys(Keys.ENTER)
        self.until(lambda d: d.find_element(By.ID, "detail").get_attribute("open") is not None)
        self.until(lambda d: d.find_element(By.ID, "detail-image").get_attribute("data-loaded") == "true")

    def detail_text(self) -> str:
        return str(self.driver.find_element(By.ID, "detail-meta").text)

    def shown_image_bytes(self) -> bytes:
        """The full image's bytes, read back from the very blob the page shows."""
        url = self.driver.find_element(By.ID, "detail-image").get_attribute("src")
        encoded = self.driver.execute_async_script(READ_BLOB, url)
        assert not encoded.startswith("error"), encoded
        return base64.b64decode(encoded)

    def delete_shown(self) -> None:
        self.driver.find_element(By.ID, "detail-delete").click()
        alert = self.until(lambda d: d.switch_to.alert)
        assert "cannot be undone" in alert.text
        alert.accept()
        self.until(lambda d: d.find_element(By.ID, "detail").get_attribute("open") is None)
