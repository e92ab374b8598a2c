"""S3 access through boto3, against AWS or any S3-compatible endpoint (MinIO, moto, LocalStack)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import IO, Annotated, Any

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from fastapi import Depends

from .errors import StorageUnavailable
from .settings import Settings, get_settings

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
_TRANSFER = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)
_UNAVAILABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.ClientError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.BotoCoreError,
)


class ObjectMissing(Exception):
    """The key has no object (a row whose object was lost)."""


@dataclass
class StoredObject:
    body: Any  # botocore StreamingBody
    size: int

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self.body.iter_chunks(CHUNK_BYTES)
        finally:
            self.body.close()


def _client_kwargs(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Which endpoint to use, and why: S3_ENDPOINT_URL, then LOCALSTACK_HOST, then boto3's own."""
    config = Config(
        s3={"addressing_style": "path" if settings.s3_force_path_style else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        read_timeout=30,
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.s3_region:
        kwargs["region_name"] = settings.s3_region
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        kwargs["aws_access_key_id"] = settings.s3_access_key_id
        kwargs["aws_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    if settings.s3_endpoint_url:
        return f"S3_ENDPOINT_URL {settings.s3_endpoint_url}", {
            **kwargs,
            "endpoint_url": settings.s3_endpoint_url,
        }
    if settings.localstack_host:
        return f"LOCALSTACK_HOST {settings.localstack_host}", {
            **kwargs,
            "localstack_host": settings.localstack_host,
        }
    return "boto3 default resolution", kwargs


def make_client(settings: Settings) -> Any:
    source, kwargs = _client_kwargs(settings)
    log.info("S3 endpoint from %s, bucket %s", source, settings.s3_bucket)
    localstack_host = kwargs.pop("localstack_host", None)
    if localstack_host is not None:
        import localstack_client.session  # only when pointed at LocalStack

        session = localstack_client.session.Session(localstack_host=localstack_host)
        return session.client("s3", **kwargs)
    return boto3.session.Session().client("s3", **kwargs)


class Storage:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, *, key: str, body: IO[bytes], content_type: str) -> None:
        try:
            self.client.upload_fileobj(
                body, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=_TRANSFER
            )
        except _UNAVAILABLE as exc:
            raise _unavailable("upload", exc) from exc

    def open(self, *, key: str) -> StoredObject:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(key) from exc
            raise _unavailable("download", exc) from exc
        except _UNAVAILABLE as exc:
            raise _unavailable("download", exc) from exc
        return StoredObject(body=response["Body"], size=response["ContentLength"])

    def delete(self, *, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except _UNAVAILABLE as exc:
            raise _unavailable("delete", exc) from exc

    def objects(self, *, prefix: str) -> Iterator[tuple[str, datetime]]:
        """(key, last modified) of every object under prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], item["LastModified"]
        except _UNAVAILABLE as exc:
            raise _unavailable("list", exc) from exc


def _unavailable(action: str, exc: Exception) -> StorageUnavailable:
    log.error("object storage %s failed: %s", action, type(exc).__name__)
    return StorageUnavailable("The object storage is unavailable, try again later")


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    settings = get_settings()
    return Storage(make_client(settings), settings.s3_bucket)


StorageDep = Annotated[Storage, Depends(get_storage)]
