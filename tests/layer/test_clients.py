"""Whom the per-client limits count: the token, the JWT's subject, or the address API Gateway saw."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from imageapi.http.clients import owner_key
from tests.support.layer import layer_env

TOKEN = "first-token-0123456789"


def _request(*, source_ip: str = "198.51.100.7", sub: str | None = None, token: str | None = None) -> Request:
    context: dict[str, Any] = {"http": {"sourceIp": source_ip}}
    if sub is not None:
        context["authorizer"] = {"jwt": {"claims": {"sub": sub}, "scopes": None}}
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "headers": headers, "aws.event": {"requestContext": context}, "client": None}
    return Request(scope)


def test_behind_the_jwt_authorizer_each_subject_has_its_own_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    with layer_env(monkeypatch, AUTH_AT_GATEWAY="true", API_TOKENS=None):
        alice, bob = owner_key(_request(sub="alice")), owner_key(_request(sub="bob"))
        assert alice.startswith("jwt:") and alice != bob and "alice" not in alice
        assert owner_key(_request(sub="alice", source_ip="203.0.113.9")) == alice  # wherever she is
        assert owner_key(_request()) == "address:198.51.100.7"  # no claims: the address


def test_without_gateway_auth_a_claim_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    with layer_env(monkeypatch, AUTH_AT_GATEWAY=None, API_TOKENS=None):
        assert owner_key(_request(sub="alice")) == "address:198.51.100.7"


def test_api_tokens_win(monkeypatch: pytest.MonkeyPatch) -> None:
    with layer_env(monkeypatch, API_TOKENS=TOKEN, AUTH_AT_GATEWAY="true"):
        key = owner_key(_request(sub="alice", token=TOKEN))
        assert key.startswith("token:") and TOKEN not in key
