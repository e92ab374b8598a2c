"""`python -m tests.support.snapstart`: SnapStart's lifecycle played in one process, against the
services named in its environment, printing one JSON line of what it saw.

Init imports the upload and get functions (each registers its hooks through create_app) and
serves a request with each, so a database connection and an S3 client exist. Then Lambda's
order: the before-snapshot hooks in reverse order of registration; two forks of this warm
process stand for two copies restored from the snapshot, each running the after-restore hooks in
order of registration and serving an upload and a get on its own.

A fork is not a microVM restore in two ways, both handled here and not by the layer: the
children share their parent's event loop's epoll instance and wake-up pipe (so each gets a loop
of its own), and the random module reseeds itself in a fork (so each starts from the state at
the snapshot, as a restored copy does). A fork also keeps no thread but the caller's, which the
layer copes with."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import secrets
import sys
import uuid
import warnings
import weakref
from typing import Any

from snapshot_restore_py import get_after_restore, get_before_snapshot

from local.routes import load_handler, load_routes
from tests.support.events import load_event
from tests.support.targets import LambdaContext

RESTORED_COPIES = 2


def _backend_pid() -> int:
    from imageapi.store.db import get_database

    return int(get_database().run(lambda conn: conn.info.backend_pid))


def _serve(handlers: dict[str, Any]) -> dict[str, Any]:
    """An upload and a get of what it stored, through the functions' own handlers."""
    uploaded = handlers["UploadImageFunction"](load_event("upload_image.v2"), LambdaContext())
    image_id = json.loads(uploaded["body"]).get("id", "") if uploaded["statusCode"] == 201 else ""
    got = handlers["GetImageFunction"](load_event("get_image.v2", image_id=image_id), LambdaContext())
    return {"upload": uploaded["statusCode"], "get": got["statusCode"], "image_id": image_id}


def _restored(handlers: dict[str, Any], write_fd: int, random_state: Any) -> None:
    """In a fork: Lambda's after-restore step, then requests; reports, and exits."""
    report: dict[str, Any] = {}
    try:
        # The random module reseeds itself in a fork; a restored microVM runs no such hook and
        # starts with the snapshot's state.
        random.setstate(random_state)
        asyncio.set_event_loop(asyncio.new_event_loop())  # not the parent's epoll instance
        for hook, args, kwargs in get_after_restore():  # in order of registration
            hook(*args, **kwargs)
        from imageapi.store.storage import get_storage

        report["requests"] = _serve(handlers)
        report["backend_pid"] = _backend_pid()
        report["s3_client"] = id(get_storage().client)
        report["random"] = random.random()
        report["uuid4"] = str(uuid.uuid4())
        report["token"] = secrets.token_hex(16)
    except Exception as exc:  # reported to the test, which fails on it
        report["error"] = repr(exc)
    with os.fdopen(write_fd, "w") as out:
        out.write(json.dumps(report))
    os._exit(0)


def main() -> int:
    from imageapi.store.db import get_database
    from imageapi.store.storage import _data_loader, get_storage

    handlers = {
        route.function: load_handler(route)
        for route in load_routes()
        if route.function in ("UploadImageFunction", "GetImageFunction")
    }
    snapshot: dict[str, Any] = {"hooks": [len(get_before_snapshot()), len(get_after_restore())]}
    snapshot["requests"] = _serve(handlers)
    snapshot["backend_pid"] = _backend_pid()
    connection = weakref.ref(get_database()._source._conn)  # type: ignore[attr-defined]
    client = weakref.ref(get_storage().client)
    random.seed(1234)  # state drawn at init: the copies must not share it
    for hook, args, kwargs in reversed(get_before_snapshot()):  # Lambda's order
        hook(*args, **kwargs)
    gc.collect()
    snapshot["connection_released"] = connection() is None
    snapshot["s3_client_released"] = client() is None
    snapshot["database_cached"] = get_database.cache_info().currsize
    snapshot["storage_cached"] = get_storage.cache_info().currsize
    snapshot["s3_model_primed"] = _data_loader.cache_info().currsize == 1
    random_state = random.getstate()
    copies = []
    # A fork of a process with threads (the anyio workers of the sync routes, idle) warns that
    # a thread may hold a lock; these hold none, and a microVM snapshot keeps them anyway.
    warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
    for _ in range(RESTORED_COPIES):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _restored(handlers, write_fd, random_state)
        os.close(write_fd)
        with os.fdopen(read_fd) as report:
            copies.append(json.loads(report.read() or "{}"))
        os.waitpid(pid, 0)
    print(json.dumps({"snapshot": snapshot, "copies": copies}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
