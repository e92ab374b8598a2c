"""Headless Chromium driven by Selenium, against the dev server and the gateway emulator over the
session's real PostgreSQL and S3. Without Chromium and chromedriver every test here is skipped,
saying so and how to install them; CI (.ci/run) installs them, and fails rather than skip."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.layer import reset_layer_caches

ROOT = Path(__file__).resolve().parents[2]
# Screenshots of the main states, kept as test artefacts (git-ignored); look at them after a run.
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
# Below Dune.jpg (1,021,283 bytes), above the other photos: one of them needs an upload session.
SINGLE_REQUEST_LIMIT = 1_000_000
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
HOW_TO_INSTALL = (
    "browser tests skipped: {missing} not found. Install Chromium and its driver to run them"
    " (Debian/Ubuntu: `apt-get install chromium chromium-driver`); CI's .ci/run does this itself."
)


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or skips every browser test saying what is missing."""
    chromium = next(
        (p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None
    )
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if path is None]
    if missing and os.environ.get("CI") == "true":
        pytest.fail(
            f"CI must run the browser tests, but {' and '.join(missing)} is missing (.ci/run installs it)"
        )
    if missing:
        pytest.skip(HOW_TO_INSTALL.format(missing=" and ".join(missing)))
    assert chromium is not None and driver is not None
    return chromium, driver


@contextmanager
def chromium(*arguments: str) -> Iterator[Any]:
    """A headless Chromium with a fresh profile and these extra arguments."""
    binary, driver = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (*CHROMIUM_ARGS, *arguments):
        options.add_argument(argument)
    profile = tempfile.mkdtemp(prefix="imageapi-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    # The console, for what the page logged and what its Content-Security-Policy refused.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield session
    finally:
        session.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    with chromium("--window-size=1100,900") as session:
        yield session


@pytest.fixture
def small_limit(services: dict[str, str]) -> Iterator[int]:
    """MAX_UPLOAD_BYTES lowered for the test, so a real photo of a megabyte is a large upload."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAX_UPLOAD_BYTES", str(SINGLE_REQUEST_LIMIT))
        reset_layer_caches()
        try:
            yield SINGLE_REQUEST_LIMIT
        finally:
            patch.undo()
            reset_layer_caches()


def screenshot(browser: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path
