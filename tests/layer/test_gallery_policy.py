"""The gallery's Content-Security-Policy: the page's own script by its hash, never 'unsafe-inline',
and connections to the API and to exactly the origin the presigner signs upload URLs for."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from imageapi.core.settings import Settings
from imageapi.routes.gallery import content_security_policy, load_page, object_store_origin
from imageapi.store.storage import make_signing_client

PAGE = Path(__file__).resolve().parents[2] / "functions" / "gallery" / "index.html"

SETUPS: list[dict[str, Any]] = [
    {"s3_endpoint_url": "http://127.0.0.1:9000", "s3_force_path_style": True},
    {"s3_endpoint_url": "http://127.0.0.1:9000"},
    {"s3_endpoint_url": "http://[::1]:9000"},
    {"s3_endpoint_url": "http://localhost:9000"},
    {"s3_endpoint_url": "http://localhost:9000/base/"},
    {"s3_endpoint_url": "http://localhost:9000", "s3_bucket": "my.bucket"},
    {"s3_endpoint_url": "http://localhost:9000", "s3_bucket": "Not_Hostable"},
    {"s3_endpoint_url": "http://minio:9000", "s3_public_endpoint_url": "http://localhost:9000/"},
    {"s3_endpoint_url": "https://s3.example.com"},
    {"s3_endpoint_url": "https://s3.example.com", "s3_bucket": "my.bucket"},
    {"s3_region": "eu-west-1"},
    {"s3_region": "us-east-1"},
    {"s3_region": "cn-north-1"},
    {"s3_region": "eu-west-1", "s3_force_path_style": True},
    {"s3_region": "eu-west-1", "s3_bucket": "a.b"},
    {},
    {"localstack_host": "localstack"},
    {"localstack_host": "localhost:4566"},
]


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "aws")
def test_the_bucket_origin_is_where_the_presigner_points(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(s3_access_key_id="key", s3_secret_access_key=SecretStr("secret"), **setup)
    signer = make_signing_client(settings)
    url = signer.generate_presigned_url("put_object", Params={"Bucket": settings.s3_bucket, "Key": "k"})
    parts = urlsplit(url)
    assert object_store_origin(settings) == f"{parts.scheme}://{parts.netloc}"


def test_the_policy_names_the_page_script_by_hash_and_allows_no_inline_script() -> None:
    page = load_page(PAGE)
    settings = Settings(s3_endpoint_url="http://127.0.0.1:9000", s3_force_path_style=True)
    policy = dict(d.split(" ", 1) for d in content_security_policy(page, settings=settings).split("; "))
    [script] = re.findall(r"<script>(.*?)</script>", PAGE.read_text(), re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert "unsafe" not in policy["script-src"] and "unsafe" not in policy["style-src"]
    assert policy["connect-src"] == "'self' http://127.0.0.1:9000 blob:"
    assert "*" not in policy["connect-src"]


def test_the_api_links_origin_may_be_fetched_when_public_base_url_names_it() -> None:
    """The page fetches the absolute links the API answers with, built on PUBLIC_BASE_URL."""
    settings = Settings(
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_force_path_style=True,
        public_base_url="https://images.example.com/base/",
    )
    policy = dict(
        d.split(" ", 1) for d in content_security_policy(load_page(PAGE), settings=settings).split("; ")
    )
    assert policy["connect-src"] == "'self' https://images.example.com http://127.0.0.1:9000 blob:"
