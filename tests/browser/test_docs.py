"""/docs and /redoc on the dev server render with no network but the server: Swagger UI and
ReDoc load from this machine, and Swagger UI shows every operation of /openapi.json."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import CHROMIUM_ARGS, find_browser, screenshot

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[Any]:
    """Chromium that resolves no host name but the loopback: a CDN load would fail."""
    chromium, driver = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    profile = tempfile.mkdtemp(prefix="imageapi-offline-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    options.add_argument("--window-size=1280,900")
    session = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield session
    finally:
        session.quit()
        shutil.rmtree(profile, ignore_errors=True)


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
