"""GET / on every target: the gallery's one HTML file, with nothing to load from elsewhere,
served without a token (it holds no data), with the single-request limit filled in."""

from __future__ import annotations

import re

import pytest

from tests.support.layer import layer_env
from tests.support.targets import Target


def test_the_page_is_one_self_contained_html_file(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    with layer_env(monkeypatch, API_TOKENS="gallery-page-secret-0123", MAX_UPLOAD_BYTES="1234567"):
        response = target.request("GET", "/")
        assert target.request("GET", "/api/v1/images/").status == 401  # the data still needs it
    assert response.status == 200
    assert (response.header("content-type") or "").startswith("text/html")
    html = response.body.decode()
    assert '<meta name="max-upload-bytes" content="1234567">' in html
    assert "{{" not in html
    # no CDN, no other file: every script and style is inline, every URL is the API's own
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet|https?://", html)
    policy = response.header("content-security-policy") or ""
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"].startswith("'sha256-") and "unsafe" not in directives["script-src"]
    assert directives["connect-src"].startswith("'self' http") and "*" not in directives["connect-src"]
    assert response.header("x-content-type-options") == "nosniff"
