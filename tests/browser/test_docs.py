"""/docs and /redoc on the dev server render with no network but the server: Swagger UI and
ReDoc load from this machine, and Swagger UI shows every operation of /openapi.json."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import chromium, screenshot

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[Any]:
    """Chromium that resolves no host name but the loopback: a CDN load would fail."""
    offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    with chromium(offline, "--window-size=1280,900") as session:
        yield session


def _loaded_only_from(browser: Any, base: str) -> list[str]:
    urls: list[str] = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return [url for url in urls if not url.startswith(base)]


def test_docs_render_every_operation_offline(offline_browser: Any, dev_server: str) -> None:
    spec = httpx.get(f"{dev_server}/openapi.json").json()
    operations = sum(1 for item in spec["paths"].values() for method in item if method in METHODS)
    assert operations >= 9
    offline_browser.get(f"{dev_server}/docs")
    WebDriverWait(offline_browser, 20).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
    )
    screenshot(offline_browser, "docs-offline")
    assert _loaded_only_from(offline_browser, dev_server) == []
    summaries = [e.text for e in offline_browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
    assert len(summaries) == operations


def test_redoc_renders_offline(offline_browser: Any, dev_server: str) -> None:
    offline_browser.get(f"{dev_server}/redoc")
    WebDriverWait(offline_browser, 20).until(
        lambda b: (
            b.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")
            or b.find_elements(By.CSS_SELECTOR, "h2")
        )
    )
    assert _loaded_only_from(offline_browser, dev_server) == []
    assert "Image API" in offline_browser.page_source
