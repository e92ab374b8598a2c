"""Without Chromium the browser tests are skipped, and the reason says how to get it."""

from __future__ import annotations

import pytest

from tests.browser.conftest import find_browser


def test_missing_browser_skips_with_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        find_browser()
    message = str(skipped.value)
    assert "chromium and chromedriver not found" in message
    assert "apt-get install chromium chromium-driver" in message


def test_on_ci_a_missing_browser_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        find_browser()
