"""Lambda SnapStart: what runs before Lambda snapshots an initialised function, and in each copy
restored from that snapshot.

Before the snapshot, what must not be shared is dropped: the database connection (and the
connection string, which may hold a fetched secret), the S3 clients with the credentials they
resolved, the settings, the upload worker threads. What is safe to share is primed, with no
network: one request answered in-process (middleware, routing, the error path, Mangum's event
parsing) and S3's service model and endpoint rules. After a restore the random module is seeded
again (every copy would otherwise draw the same numbers; uuid4 and secrets read the OS each
time), and connections and clients are made lazily by the first request that needs them.

snapshot_restore_py is part of Lambda's Python runtime. Where it is missing (the dev server
without it) nothing is registered: the hooks only ever run under SnapStart."""

from __future__ import annotations

import logging
import random
import sys
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from imageapi.core.settings import get_settings

PRIME_PATH = "/_snapstart/prime"  # matches no route: the request touches no database and no S3

log = logging.getLogger(__name__)


def register(app: FastAPI) -> None:
    """Registers the hooks for this app (once per app; repeating them is harmless)."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return
    register_before_snapshot(before_snapshot, app)
    register_after_restore(after_restore)


def before_snapshot(app: FastAPI) -> None:
    prime(app)
    drop_connections()


def after_restore() -> None:
    random.seed()  # from os.urandom: each restored copy draws its own numbers
    drop_connections()  # nothing made before the snapshot is used after it


def prime(app: FastAPI) -> None:
    """Runs, once, what every first request would pay for, without the network."""
    context: Any = _PrimeContext()  # Mangum reads only the request id from it
    response = Mangum(app, lifespan="off")(_prime_event(), context)
    if response["statusCode"] != 404:
        log.warning("priming request answered %s", response["statusCode"])
    storage = sys.modules.get("imageapi.store.storage")
    if storage is not None:  # only functions that use S3 have imported it
        storage.prime_client_data()


def drop_connections() -> None:
    """Closes the database connection and forgets the S3 clients, the settings and the upload
    workers; each is made again when next needed."""
    db = sys.modules.get("imageapi.store.db")
    if db is not None:  # the gallery page never imports it
        if db.get_database.cache_info().currsize:
            db.get_database().close()
        db.get_database.cache_clear()
    storage = sys.modules.get("imageapi.store.storage")
    if storage is not None:
        storage.get_storage.cache_clear()
        storage.StreamingUpload.stop_workers()
    get_settings.cache_clear()


class _PrimeContext:
    aws_request_id = "snapstart-prime"


def _prime_event() -> dict[str, Any]:
    """An API Gateway HTTP API (v2) GET, as the function receives one."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": PRIME_PATH,
        "rawQueryString": "",
        "headers": {"host": "localhost", "x-forwarded-proto": "https"},
        "requestContext": {
            "http": {"method": "GET", "path": PRIME_PATH, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "snapstart-prime",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
