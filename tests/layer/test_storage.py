"""Endpoint resolution against a real S3 endpoint: S3_ENDPOINT_URL, then LOCALSTACK_HOST
(through localstack-client), then boto3's own resolution."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from imageapi.core.settings import Settings
from imageapi.store.storage import Storage, StreamingUpload, make_client
from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import EventTarget


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def settings_for(services: dict[str, str], **values: str | None) -> Settings:
    base = {
        "s3_bucket": services["S3_BUCKET"],
        "s3_region": services["S3_REGION"],
        "s3_access_key_id": services["S3_ACCESS_KEY_ID"],
        "s3_secret_access_key": services["S3_SECRET_ACCESS_KEY"],
        "s3_force_path_style": True,
        "s3_endpoint_url": None,  # the environment's values would apply otherwise
        "localstack_host": None,
    }
    return Settings.model_validate({**base, **values})


def round_trip(storage: Storage) -> None:
    """Upload, download and delete one object through this client."""
    key = "images/resolution-check"
    upload = StreamingUpload(storage, key=key, content_type=lambda: "image/png")
    upload.write(b"payload")
    upload.commit()
    stored = storage.open(key=key)
    assert b"".join(stored.chunks()) == b"payload"
    storage.delete(key=key)
    assert [k for k, _ in storage.objects(prefix=key)] == []


def test_localstack_host_goes_through_localstack_client(services: dict[str, str]) -> None:
    endpoint = urlsplit(services["S3_ENDPOINT_URL"])
    client = make_client(settings_for(services, localstack_host=endpoint.netloc))
    assert client.meta.endpoint_url == f"http://{endpoint.netloc}"
    round_trip(Storage(client, services["S3_BUCKET"]))


def test_explicit_endpoint_wins_over_localstack_host(services: dict[str, str]) -> None:
    client = make_client(
        settings_for(services, s3_endpoint_url=services["S3_ENDPOINT_URL"], localstack_host="127.0.0.1:1")
    )
    assert client.meta.endpoint_url == services["S3_ENDPOINT_URL"]
    round_trip(Storage(client, services["S3_BUCKET"]))


@pytest.mark.parametrize("size", [7, 9 * 1024 * 1024], ids=["single PUT", "multipart"])
def test_writes_carry_a_signed_checksum_instead_of_hashing_the_body(
    services: dict[str, str], size: int
) -> None:
    client = make_client(settings_for(services, s3_endpoint_url=services["S3_ENDPOINT_URL"]))
    storage = Storage(client, services["S3_BUCKET"])
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append((request.method, {k.lower(): _text(v) for k, v in request.headers.items()}))

    client.meta.events.register("before-send.s3.*", record)
    upload = StreamingUpload(storage, key="images/checksum", content_type=lambda: "image/png")
    upload.write(b"x" * size)
    upload.commit()

    writes = [headers for method, headers in sent if method == "PUT"]
    assert sum(int(headers["content-length"]) for headers in writes) == size
    for headers in writes:
        assert "x-amz-checksum-crc32" in headers["authorization"].split("SignedHeaders=")[1]
        assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    storage.delete(key="images/checksum")


def test_otherwise_boto3_resolves(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_client(settings_for(services)).meta.endpoint_url.startswith("https://s3.")
    monkeypatch.setenv("AWS_ENDPOINT_URL", services["S3_ENDPOINT_URL"])  # one of boto3's own sources
    client = make_client(settings_for(services))
    assert client.meta.endpoint_url == services["S3_ENDPOINT_URL"]
    round_trip(Storage(client, services["S3_BUCKET"]))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_start_up_log_names_the_source_not_the_credentials(services: dict[str, str]) -> None:
    logger = logging.getLogger("imageapi.store.storage")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        make_client(settings_for(services, localstack_host="localhost:4566"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [record] = [r for r in handler.records if r.getMessage() == "S3 endpoint chosen"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["source"] == "LOCALSTACK_HOST"
    assert fields["endpoint"] == "http://localhost:4566"
    assert services["S3_SECRET_ACCESS_KEY"] not in json.dumps(fields) + record.getMessage()


@pytest.fixture
def via_localstack(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The whole API with S3 reached only through LOCALSTACK_HOST."""
    from imageapi.store.storage import get_storage

    localstack_host = urlsplit(services["S3_ENDPOINT_URL"]).netloc
    with layer_env(monkeypatch, S3_ENDPOINT_URL=None, LOCALSTACK_HOST=localstack_host):
        assert get_storage().client.meta.endpoint_url.endswith(services["S3_ENDPOINT_URL"].split("//")[1])
        yield


def test_upload_and_download_through_localstack_client(via_localstack: None, stores: Stores) -> None:
    api = Api(EventTarget())
    data = make_image("PNG", (20, 20))
    image = api.upload_ok(data)
    assert api.download(image["id"]).body == data
    assert json_of(api.get(image["id"]))["sha256"] == image["sha256"]
    assert len(stores.object_keys()) == 1
