"""The template built once per session (and reused across sessions while its inputs are unchanged)."""

from __future__ import annotations

import pytest

from tests.packaging.support import Build, ensure_build


@pytest.fixture(scope="session")
def build() -> Build:
    return ensure_build()
