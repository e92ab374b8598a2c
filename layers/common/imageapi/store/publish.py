"""The one way an image is published, by the multipart upload and the upload session's complete:

1. the bytes were checked on their way into a StreamingUpload (nothing visible yet);
2. the object is made visible under images/<id>;
3. the row is written in one short transaction, whose outcome is known or asked again on a
   fresh connection;
4. the object is removed only when the row certainly does not exist.

A row is certainly not written when no statement was sent, or when the server answered the
write with an error (a cancelled statement, SQLSTATE 57014, included): the transaction rolled
back. It may have been written only when the connection was lost after a statement was sent:
then a fresh connection asks, once the server processes that ran it have ended."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from imageapi.core import metrics
from imageapi.core.errors import ApiError, DatabaseUnavailable, NotFound
from imageapi.core.schemas import ImageCreate, ImageRow

from . import repository
from .db import Database, NotYet
from .storage import StreamingUpload

log = logging.getLogger(__name__)


class LeaseLost(ApiError):
    """Another complete of the same upload session took it over: its outcome is the session's."""

    status_code = 409

    def __init__(self) -> None:
        super().__init__(
            "This upload is being completed by another request: try again shortly",
            headers={"Retry-After": "2"},
        )


@dataclass(frozen=True)
class SessionLease:
    """The upload session this image completes, and the lease its complete holds on it."""

    upload_id: uuid.UUID
    owner: uuid.UUID


@dataclass
class _Attempts:
    """The server processes (backend pids) that ran a write whose outcome was not heard."""

    unheard: list[int] = field(default_factory=list)

    def track(
        self, write: Callable[[psycopg.Connection[Any]], ImageRow]
    ) -> Callable[[psycopg.Connection[Any]], ImageRow]:
        def tracked(conn: psycopg.Connection[Any]) -> ImageRow:
            pid = conn.info.backend_pid
            try:
                return write(conn)
            except BaseException:
                if conn.broken or conn.closed:  # the connection went: the server may have committed
                    self.unheard.append(pid)
                raise  # otherwise the server answered (an error) or nothing was sent: rolled back

        return tracked


def publish(
    upload: StreamingUpload,
    image: ImageCreate,
    *,
    db: Database,
    lease: SessionLease | None = None,
    timeout: float | None = None,
) -> ImageRow:
    """Makes the checked object visible, then writes its row (blocking). With a lease, the same
    transaction marks the upload session completed, if the lease is still this request's.
    On any failure the object is gone unless the row may exist."""
    upload.commit()  # StorageUnavailable: nothing visible, the caller discards the parts
    attempts = _Attempts()
    bounded = db if timeout is None else db.with_timeout(timeout)
    try:
        return bounded.run(attempts.track(lambda conn: _write(conn, image=image, lease=lease)))
    except LeaseLost:
        upload.keep()  # the object's key is the other request's now: never remove it from here
        raise
    except BaseException:
        if not attempts.unheard:  # every attempt was answered or never sent: no row
            upload.discard()
            raise
        try:
            row = db.run_on_fresh_connection(_written_row, image_id=image.id, backends=attempts.unheard)
        except DatabaseUnavailable:
            upload.keep()
            log.error(
                "publish outcome unknown: the object is kept for reconcile",
                extra={"fields": {"image_key": image.object_key}},
            )
            raise
        if row is None:
            upload.discard()
            raise
        log.warning(
            "the row was written though its acknowledgement was lost",
            extra={"fields": {"image_key": image.object_key}},
        )
        return row


def _write(conn: psycopg.Connection[Any], /, *, image: ImageCreate, lease: SessionLease | None) -> ImageRow:
    """The row (and the session's completion), in one transaction: one autocommit statement
    without a session. Run again after a dropped connection, it finds what the first run
    committed rather than writing twice."""
    if lease is None:
        return _stored(repository.insert_image(conn, image=image))
    with conn.transaction():
        state = repository.finish_upload_session(conn, upload_id=lease.upload_id, owner=lease.owner)
        if state == "finished":
            row = repository.insert_image(conn, image=image)
        elif state == "completed":  # by this request's earlier attempt, or the one that took over
            found = repository.get_image(conn, image_id=image.id)
            if found is None:
                raise NotFound("The image of this upload session no longer exists")
            return found
        else:
            raise LeaseLost()
    return _stored(row)  # once committed


def _stored(row: ImageRow) -> ImageRow:
    metrics.observe("UploadedBytes", row.size_bytes)
    return row


def _written_row(
    conn: psycopg.Connection[Any], /, *, image_id: uuid.UUID, backends: list[int]
) -> ImageRow | None:
    """The row if it exists; None only once it certainly never will: the server processes that
    ran the write have ended, so no transaction of theirs can still commit."""
    row = repository.get_image(conn, image_id=image_id)
    if row is not None:
        return row
    if any(repository.backend_running(conn, pid=pid) for pid in backends):
        raise NotYet("the write's server process is still running")
    return repository.get_image(conn, image_id=image_id)  # a new snapshot, taken after they ended
