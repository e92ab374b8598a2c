"""Fixtures the fault tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.faults import PostgresProxy, postgres_proxy
from tests.support.layer import layer_env


@pytest.fixture
def proxy(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresProxy]:
    """The layer's database reached through a proxy that can drop a reply or refuse connections;
    whether a write committed is asked for two seconds at most."""
    with (
        postgres_proxy(services["DATABASE_URL"]) as proxy,
        layer_env(monkeypatch, DATABASE_URL=proxy.url, DATABASE_OUTCOME_CHECK_SECONDS="2"),
    ):
        yield proxy
