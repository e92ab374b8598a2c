"""API_TOKENS fails closed: set but empty, or holding a short token, refuses to start; unset
means no auth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from imageapi.core.settings import MIN_TOKEN_CHARS, Settings

ROOT = Path(__file__).resolve().parents[2]
GOOD = "first-token-0123456789"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (" , ", "API_TOKENS is set but holds no token"),
        (",", "API_TOKENS is set but holds no token"),  # ${TOKEN}, with TOKEN empty
        ("   ", "API_TOKENS is set but holds no token"),
        ("short", f"at least {MIN_TOKEN_CHARS} characters"),
        (f"{GOOD},fifteen-chars15", f"at least {MIN_TOKEN_CHARS} characters"),
    ],
)
def test_unusable_tokens_refuse_the_settings(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("API_TOKENS", value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_unset_or_empty_means_no_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TOKENS", raising=False)
    assert Settings().token_list() == []
    monkeypatch.setenv("API_TOKENS", "")  # an empty value counts as unset, like every setting
    assert Settings().token_list() == []


def test_tokens_of_sixteen_characters_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS", f" {GOOD} , sixteen-chars-16 ")
    assert Settings().token_list() == [GOOD.encode(), b"sixteen-chars-16"]


def _start(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "API_TOKENS": " , ", "PYTHONPATH": f"{ROOT / 'layers/common'}:{ROOT}"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("module", ["local.devserver", "local.gateway"])
def test_the_local_servers_refuse_to_start(module: str) -> None:
    result = _start(["-m", module, "--port", "1"])  # refused before binding anything
    assert result.returncode != 0
    assert "Invalid settings: API_TOKENS is set but holds no token" in result.stderr


def test_a_function_refuses_to_load() -> None:
    code = "import runpy; runpy.run_path('functions/get_image/app.py')"
    result = _start(["-c", code])
    assert result.returncode != 0
    assert "API_TOKENS is set but holds no token" in result.stderr
