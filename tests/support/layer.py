"""The layer's settings under test: changed through the environment, read again at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def reset_layer_caches() -> None:
    """Makes the layer read its settings again (closing the cached database connection)."""
    from imageapi.core.settings import get_settings
    from imageapi.store.db import get_database
    from imageapi.store.storage import get_storage

    if get_database.cache_info().currsize:
        get_database().close()
    get_settings.cache_clear()
    get_database.cache_clear()
    get_storage.cache_clear()


@contextmanager
def layer_env(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> Iterator[None]:
    """The layer with these variables set (None removes one); as before afterwards."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_layer_caches()
    try:
        yield
    finally:
        monkeypatch.undo()
        reset_layer_caches()
