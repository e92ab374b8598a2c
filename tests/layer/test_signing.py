"""Presigned URLs as the client receives them: what they sign, and for which address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.layer import layer_env


def test_on_aws_urls_use_the_regional_virtual_hosted_address(
    services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imageapi.store.storage import get_storage

    aws = {
        "S3_ENDPOINT_URL": None,
        "S3_REGION": "eu-west-1",
        "S3_FORCE_PATH_STYLE": "false",
        "S3_BUCKET": "photos",
    }
    with layer_env(monkeypatch, **aws):  # signing is local: nothing is sent anywhere
        url, headers = get_storage().presigned_put(
            key="incoming/abc", size=123, content_type="image/jpeg", sha256_base64="q83v", expires_in=3600
        )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "photos.s3.eu-west-1.amazonaws.com",
        "/incoming/abc",
    )
    query = parse_qs(parts.query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host;x-amz-checksum-sha256"]
    assert query["X-Amz-Expires"] == ["3600"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert not any(k.lower().startswith("x-amz-checksum") or k.lower().startswith("x-amz-sdk") for k in query)
    assert headers == {"Content-Type": "image/jpeg", "Content-Length": "123", "x-amz-checksum-sha256": "q83v"}


def test_without_a_declared_checksum_only_length_and_type_are_signed(services: dict[str, str]) -> None:
    from imageapi.store.storage import get_storage

    url, headers = get_storage().presigned_put(
        key="incoming/abc", size=5, content_type="application/octet-stream", sha256_base64=None, expires_in=60
    )
    assert parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert headers == {"Content-Type": "application/octet-stream", "Content-Length": "5"}
