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


def _config(settings: Settings) -> Config:
    return Config(
        s3={"addressing_style": "path" if settings.s3_force_path_style else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        read_timeout=30,
    )


def make_client(settings: Settings) -> Any:
    """An S3 client for, in this order: S3_ENDPOINT_URL, LOCALSTACK_HOST, boto3's own resolution
    (AWS itself, AWS_ENDPOINT_URL, profiles). Logs which, never the credentials."""
    kwargs: dict[str, Any] = {"config": _config(settings)}
    if settings.s3_region:
        kwargs["region_name"] = settings.s3_region
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        kwargs["aws_access_key_id"] = settings.s3_access_key_id
        kwargs["aws_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    if settings.s3_endpoint_url:
        source, client = (
            "S3_ENDPOINT_URL",
            boto3.session.Session().client("s3", endpoint_url=settings.s3_endpoint_url, **kwargs),
        )
    elif settings.localstack_host:
        source, client = "LOCALSTACK_HOST", _localstack_client(settings.localstack_host, kwargs)
    else:
        source, client = "boto3 default resolution", boto3.session.Session().client("s3", **kwargs)
    log.info(
        "S3 endpoint chosen",
        extra={
            "fields": {"source": source, "endpoint": client.meta.endpoint_url, "bucket": settings.s3_bucket}
        },
    )
    return client


def _localstack_client(host: str, kwargs: dict[str, Any]) -> Any:
    import localstack_client.session  # only when pointed at LocalStack

    # The session sets endpoint, region and credentials itself; ours win where given.
    session = localstack_client.session.Session(
        localstack_host=host,
        region_name=kwargs.pop("region_name", "us-east-1"),
        aws_access_key_id=kwargs.pop("aws_access_key_id", "test"),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", "test"),
    )
    return session.client("s3", **kwargs)


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
