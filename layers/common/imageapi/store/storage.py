"""S3 access through botocore, against AWS or any S3-compatible endpoint (MinIO, moto, LocalStack)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config
from fastapi import Depends

from imageapi.core.errors import StorageUnavailable
from imageapi.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
# Defaults of S3_PART_BYTES and S3_PARTS_IN_FLIGHT, chosen from `make bench`'s streaming section:
# an upload holds about (1 + in flight) parts, and on two cores more parts in flight moved no
# more bytes. S3's minimum part is 5 MiB (except the last); a smaller file is one PutObject.
PART_BYTES = 5 * 1024 * 1024
PARTS_IN_FLIGHT = 1
# Connection, timeout and credential errors are all BotoCoreError; an HTTP error is ClientError.
_UNAVAILABLE = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class ObjectMissing(Exception):
    """The key has no object (a row whose object was lost)."""


@dataclass
class StoredObject:
    body: Any  # botocore StreamingBody
    size: int
    etag: str = ""
    key: str = ""

    def chunks(self) -> Generator[bytes]:
        try:
            yield from self.body.iter_chunks(CHUNK_BYTES)
        except _UNAVAILABLE as exc:  # the connection dropped or timed out part-way
            raise _unavailable("read", exc) from exc
        finally:
            self.body.close()


def _config(settings: Settings) -> Config:
    return Config(
        s3={
            "addressing_style": "path" if settings.s3_force_path_style else "auto",
            # Over plain http (MinIO, LocalStack) SigV4 would hash every body once more: a second
            # SHA-256 pass over each upload. The signed CRC32 header below guards the bytes instead.
            "payload_signing_enabled": False,
        },
        request_checksum_calculation="when_supported",
        # Checked where asked for (whole objects, below): some stores (rclone) send the whole
        # object's checksum with a ranged GET, which the range could never match.
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        read_timeout=30,
    )


def _signing_config(settings: Settings) -> Config:
    # SigV4 (stores refuse SigV2 presigning); no checksum of boto3's own choosing in the URL, so
    # the headers the client is told to send are exactly the signed ones. On AWS: the regional
    # virtual-hosted address.
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.s3_force_path_style else "virtual"},
        request_checksum_calculation="when_required",
    )


def make_signing_client(settings: Settings) -> Any:
    """A client that only signs URLs, for the address clients use (S3_PUBLIC_ENDPOINT_URL):
    a presigned URL signs its Host, so one signed for minio:9000 fails from localhost:9000."""
    endpoint = settings.s3_public_endpoint_url or settings.s3_endpoint_url
    return make_client(settings, endpoint_url=endpoint, config=_signing_config(settings))


@lru_cache(maxsize=1)
def _data_loader() -> botocore.loaders.Loader:
    """botocore's loader of service models and endpoint rules, shared by every session: it caches
    what it parsed, so a second client (the signing one) costs milliseconds, not a reload. It
    holds files read from the package only, never a credential."""
    return botocore.loaders.create_loader()


def _session() -> botocore.session.Session:
    """A new botocore session (credentials are resolved per session) with the shared loader.
    botocore directly: boto3's session adds only an import and resources this layer never uses."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _data_loader())
    return session


def prime_client_data() -> None:
    """Parses S3's service model and endpoint rules into the shared loader: files only, no
    network, no credential (the client made for it gets dummy static keys and is dropped)."""
    _session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="prime",
        aws_secret_access_key="prime",  # noqa: S106 (not a secret: the client is never used)
    )


def make_client(settings: Settings, *, endpoint_url: str | None = None, config: Config | None = None) -> Any:
    """An S3 client for, in this order: S3_ENDPOINT_URL, LOCALSTACK_HOST, boto3's own resolution
    (AWS itself, AWS_ENDPOINT_URL, profiles). Logs which, never the credentials."""
    kwargs: dict[str, Any] = {"config": config or _config(settings)}
    endpoint_url = endpoint_url or settings.s3_endpoint_url
    if settings.s3_region:
        kwargs["region_name"] = settings.s3_region
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        kwargs["aws_access_key_id"] = settings.s3_access_key_id
        kwargs["aws_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    if endpoint_url:
        source, client = (
            "S3_ENDPOINT_URL",
            _session().create_client("s3", endpoint_url=endpoint_url, **kwargs),
        )
    elif settings.localstack_host:
        source, client = "LOCALSTACK_HOST", _localstack_client(settings.localstack_host, kwargs)
    else:
        source, client = "boto3 default resolution", _session().create_client("s3", **kwargs)
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
    def __init__(self, client: Any, bucket: str, *, signer: Callable[[], Any] | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self._make_signer = signer or (lambda: client)
        self._signer: Any = None

    @property
    def signer(self) -> Any:
        """The client that presigns URLs, made on first use (only two routes sign)."""
        if self._signer is None:
            self._signer = self._make_signer()
        return self._signer

    def open(
        self, *, key: str, byte_range: tuple[int, int] | None = None, verify: bool = True
    ) -> StoredObject:
        """The object's bytes, or only bytes first..last (inclusive) with S3's own ranged GET.
        verify: check a whole object against the checksum the store sends with it. An upload
        session's file is read with verify=False: its stored checksum is the one the client
        declared, which the caller compares itself so that a mismatch is a 422, not a 503."""
        extra: dict[str, str] = {}
        if byte_range:
            extra["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        elif verify:
            extra["ChecksumMode"] = "ENABLED"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(key) from exc
            raise _unavailable("download", exc) from exc
        except _UNAVAILABLE as exc:
            raise _unavailable("download", exc) from exc
        return StoredObject(
            body=response["Body"], size=response["ContentLength"], etag=response["ETag"], key=key
        )

    def presigned_put(
        self, *, key: str, size: int, content_type: str, sha256_base64: str | None, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """A URL and the headers to PUT exactly size bytes (and that checksum) to key: the length,
        the type and the checksum are signed, so a store that checks them refuses anything else."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentLength": size,
            "ContentType": content_type,
        }
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        if sha256_base64 is not None:
            params["ChecksumSHA256"] = sha256_base64
            headers["x-amz-checksum-sha256"] = sha256_base64
        url = self.signer.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        return url, headers

    def presigned_get(self, *, key: str, response_headers: dict[str, str], expires_in: int) -> str:
        """A URL whose response carries these headers (S3's response-* overrides)."""
        params = {"Bucket": self.bucket, "Key": key, **response_headers}
        return str(self.signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))

    def exists(self, *, key: str) -> bool:
        """HeadObject: whether the key has an object (a HEAD request answers as GET would)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return False
            raise _unavailable("download", exc) from exc
        except _UNAVAILABLE as exc:
            raise _unavailable("download", exc) from exc
        return True

    def delete(self, *, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except _UNAVAILABLE as exc:
            raise _unavailable("delete", exc) from exc

    def read(self, *, key: str) -> bytes:
        """The whole object (thumbnails and the originals they are made from)."""
        stored = self.open(key=key)
        try:
            return b"".join(stored.chunks())
        except _UNAVAILABLE as exc:
            raise _unavailable("download", exc) from exc

    def put(self, *, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, CacheControl=cache_control
            )
        except _UNAVAILABLE as exc:
            raise _unavailable("upload", exc) from exc

    def delete_many(self, *, keys: list[str]) -> list[str]:
        """Deletes keys in one request (missing ones count as deleted); returns those that failed."""
        try:
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        except _UNAVAILABLE as exc:
            raise _unavailable("delete", exc) from exc
        return [error["Key"] for error in response.get("Errors", [])]

    def objects(self, *, prefix: str) -> Iterator[tuple[str, datetime]]:
        """(key, last modified) of every object under prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], item["LastModified"]
        except _UNAVAILABLE as exc:
            raise _unavailable("list", exc) from exc


class StreamingUpload:
    """One object written while its bytes still arrive.

    A file smaller than part_bytes stays in memory and is sent with one PutObject by commit().
    A larger one becomes a multipart upload whose parts go up in worker threads as they fill,
    at most parts_in_flight at a time (drain() waits for them), so memory holds the part being
    filled and those in flight whatever the file's size. Each part is filled in place and handed
    to its worker as it is: no byte is copied again on its way to the socket. Nothing is visible
    in the bucket before commit(); discard() leaves nothing behind, not even an unfinished
    multipart upload, and after commit() deletes the object (the row that was to point at it
    failed)."""

    _pool: ThreadPoolExecutor | None = None

    def __init__(
        self,
        storage: Storage,
        *,
        key: str,
        content_type: Callable[[], str],
        part_bytes: int = PART_BYTES,
        parts_in_flight: int = PARTS_IN_FLIGHT,
    ) -> None:
        self.storage = storage
        self.key = key
        self.part_bytes = part_bytes
        self.parts_in_flight = parts_in_flight
        self._sniff = content_type  # asked once: when the first part goes up, or at commit
        self._content_type: str | None = None
        self._buffer = bytearray()  # the part being filled, allocated at its full size
        self._filled = 0
        self._parts: list[Future[dict[str, Any]]] = []
        self._in_flight: list[Future[dict[str, Any]]] = []
        self._upload_id: str | None = None
        self._lock = threading.Lock()
        self._committed = False
        self._kept = False
        self._discarded = False

    @classmethod
    def stop_workers(cls) -> None:
        """Ends the worker threads once their parts are sent (before a snapshot: no thread is
        left mid-request); the next upload starts them again."""
        pool, cls._pool = cls._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    @classmethod
    def _workers(cls) -> ThreadPoolExecutor:
        if cls._pool is None:
            cls._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-part")
        return cls._pool

    def write(self, chunk: bytes) -> None:
        """Copies the chunk into the part being filled; hands each full part to a worker. Never
        blocks on the network."""
        position = 0
        while position < len(chunk):
            if not self._buffer:  # allocated whole: growing a bytearray by chunks moves it
                self._buffer = bytearray(self.part_bytes)
            taken = min(len(chunk) - position, self.part_bytes - self._filled)
            with memoryview(chunk) as view:
                self._buffer[self._filled : self._filled + taken] = view[position : position + taken]
            self._filled += taken
            position += taken
            if self._filled == self.part_bytes:
                self.content_type()  # an unsupported file fails here, before any S3 traffic
                # The full part goes to its worker as it is; the next one starts empty.
                part, self._buffer, self._filled = self._buffer, bytearray(), 0
                self._submit(part)

    def _last_part(self) -> bytearray:
        """What was received since the last full part: the buffer, cut in place to its length."""
        part, filled = self._buffer, self._filled
        self._buffer, self._filled = bytearray(), 0
        del part[filled:]
        return part

    async def drain(self) -> None:
        """Waits while too many parts are in flight; raises the first part's failure."""
        while (waiting := self._oldest_over_limit()) is not None:
            await asyncio.wrap_future(waiting)

    def drain_blocking(self) -> None:
        """drain() for a caller that is a thread of its own (the upload session's complete)."""
        while (waiting := self._oldest_over_limit()) is not None:
            waiting.result()

    def _oldest_over_limit(self) -> Future[dict[str, Any]] | None:
        for future in (f for f in self._in_flight if f.done()):
            future.result()
        self._in_flight = [f for f in self._in_flight if not f.done()]
        return self._in_flight[0] if len(self._in_flight) > self.parts_in_flight else None

    def content_type(self) -> str:
        if self._content_type is None:
            self._content_type = self._sniff()
        return self._content_type

    def commit(self) -> None:
        """Makes the object visible (blocking)."""
        client, bucket = self.storage.client, self.storage.bucket
        try:
            if not self._parts:
                client.put_object(
                    Bucket=bucket, Key=self.key, Body=self._last_part(), ContentType=self.content_type()
                )
            else:
                if self._filled:
                    self._submit(self._last_part())
                parts = [f.result() for f in self._parts]
                client.complete_multipart_upload(
                    Bucket=bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
                )
        except _UNAVAILABLE as exc:
            raise _unavailable("upload", exc) from exc
        self._committed = True

    def keep(self) -> None:
        """After commit(): discard() leaves the object, since a row may point at it."""
        self._kept = True

    def discard(self) -> None:
        """Drops what was sent so far (blocking, best effort: reconcile finds what this misses).
        Only the first call does anything."""
        if self._kept or self._discarded:
            return
        self._discarded = True
        if self._committed:
            try:
                self.storage.delete(key=self.key)
            except StorageUnavailable:
                log.error(
                    "could not remove the object of a failed upload",
                    extra={"fields": {"image_key": self.key}},
                )
            return
        self._buffer, self._filled = bytearray(), 0
        for future in self._parts:
            future.cancel()
        for future in self._parts:
            if not future.cancelled():
                with contextlib.suppress(Exception):  # a failed part is what is being discarded
                    future.result()
        if self._upload_id is not None:
            try:
                self.storage.client.abort_multipart_upload(
                    Bucket=self.storage.bucket, Key=self.key, UploadId=self._upload_id
                )
            except _UNAVAILABLE:
                log.error("could not abort a multipart upload", extra={"fields": {"image_key": self.key}})

    def _submit(self, data: bytearray) -> None:
        number = len(self._parts) + 1
        future = self._workers().submit(self._upload_part, number, data)
        self._parts.append(future)
        self._in_flight.append(future)

    def _upload_part(self, number: int, data: bytearray) -> dict[str, Any]:
        client, bucket = self.storage.client, self.storage.bucket
        try:
            with self._lock:  # the first part to run starts the multipart upload
                if self._upload_id is None:
                    created = client.create_multipart_upload(
                        Bucket=bucket, Key=self.key, ContentType=self.content_type()
                    )
                    self._upload_id = created["UploadId"]
            response = client.upload_part(
                Bucket=bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=data
            )
        except _UNAVAILABLE as exc:
            raise _unavailable("upload", exc) from exc
        return {"PartNumber": number, "ETag": response["ETag"]}


def _unavailable(action: str, exc: Exception) -> StorageUnavailable:
    log.error("object storage %s failed: %s", action, type(exc).__name__)
    return StorageUnavailable("The object storage is unavailable, try again later")


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    settings = get_settings()
    return Storage(make_client(settings), settings.s3_bucket, signer=lambda: make_signing_client(settings))


async def storage() -> Storage:
    return get_storage()  # async: a cached lookup needs no worker thread (see deps.py)


StorageDep = Annotated[Storage, Depends(storage)]
