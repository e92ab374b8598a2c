"""The local stack behind `make dev` and `make gateway`: PostgreSQL and S3 (started here unless
configured), the bucket, the migrations, and a banner saying what persists and what the stores
hold. Nothing here deletes data."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from local.ports import refuse_taken_port
from local.routes import LAYER_DIR, ROOT
from local.services import (
    apply_environment,
    embedded_postgres,
    ensure_bucket,
    exit_on_sigterm,
    private_runtime_dir,
    rclone_s3,
)
from local.stackenv import published

DATA_DIR = Path(os.environ.get("DEV_DATA_DIR", ROOT / ".local-data"))


class DataDirInUse(SystemExit):
    """Another local process owns the embedded services of this data directory."""


@contextmanager
def local_stack(*, heading: str, host: str, port: int, command: str) -> Iterator[str]:
    """Yields the start-up banner (heading, then what runs where and what persists) once
    everything is ready; stops what it started. Invalid settings and a taken host:port (where
    the caller will listen; command is how the user started it) are refused before anything starts."""
    sys.path.insert(0, str(LAYER_DIR))
    refuse_invalid_settings()
    refuse_taken_port(host, port, command=command)
    exit_on_sigterm()
    lines = []
    started: dict[str, str] = {}  # the settings of the stores started here, for `make reconcile` & co.
    with ExitStack() as stack:
        local_postgres = not os.environ.get("DATABASE_URL")
        local_s3 = not (os.environ.get("S3_ENDPOINT_URL") or os.environ.get("LOCALSTACK_HOST"))
        if local_postgres or local_s3:
            stack.enter_context(data_dir_lock(DATA_DIR))
        if local_postgres:
            private_runtime_dir(DATA_DIR)
            url = stack.enter_context(embedded_postgres(DATA_DIR / "postgres", keep=True))
            apply_environment({"DATABASE_URL": url})
            started["DATABASE_URL"] = url
            lines.append(f"PostgreSQL  embedded, data in {DATA_DIR / 'postgres'}: kept across restarts")
        else:
            lines.append("PostgreSQL  DATABASE_URL (external; persists as that server does)")
        if local_s3:
            bucket = os.environ.get("S3_BUCKET") or "images"
            s3_dir = DATA_DIR / "s3"
            endpoint = stack.enter_context(rclone_s3(s3_dir, buckets=(bucket,)))
            apply_environment(endpoint.environment())
            started.update(endpoint.environment(), S3_BUCKET=bucket)
            lines.append(
                f"S3          rclone at {endpoint.url}, files in {s3_dir / bucket}: kept across restarts"
            )
        else:
            lines.append("S3          S3_ENDPOINT_URL / LOCALSTACK_HOST (external)")
        os.environ.setdefault("DATABASE_POOL_SIZE", "10")

        from imageapi.core.settings import get_settings
        from imageapi.store.migrate import migrate
        from imageapi.store.storage import get_storage

        ensure_bucket(get_storage().client, get_settings().s3_bucket)
        applied = migrate()
        lines.append(f"Migrations  {', '.join(applied) if applied else 'up to date'}")
        if started:
            settings = stack.enter_context(published(DATA_DIR, started))
            lines.append(f"Settings    {settings}: `make migrate`, `make reconcile` and `make psql` use them")
        lines.append(f"Stores      {stores_summary()}")
        yield "\n".join(["", heading, *("  " + line for line in lines), ""])


def refuse_invalid_settings() -> None:
    """Exits with the settings' own message (API_TOKENS set but empty, a short token, ...)
    before anything is started."""
    from pydantic import ValidationError

    from imageapi.core.settings import Settings

    try:
        Settings()
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise SystemExit(f"Invalid settings: {problems}") from None


def stores_summary() -> str:
    """What the stores hold and whether they match; reads only."""
    from imageapi.store.db import get_database
    from imageapi.store.reconcile import scan
    from imageapi.store.storage import get_storage

    found = scan(db=get_database(), storage=get_storage())
    summary = f"{found.rows} image rows, {found.objects} objects"
    lost, orphans = found.rows_without_objects.count, found.objects_without_rows.count
    if not lost and not orphans:
        return f"{summary}; every row has its file"
    return (
        f"{summary}; {lost} rows without objects, {orphans} objects without rows"
        " (left as they are: `make reconcile` lists them)"
    )


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Holds data_dir for this process while it runs the embedded services, so a second
    `make dev` or `make gateway` in the same checkout refuses to start instead of deleting
    the first one's PostgreSQL handle or serving an empty store over its data. The kernel
    drops the lock when this process dies, however it dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / "owner.lock"
    handle: IO[str] = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise DataDirInUse(
                f"{data_dir} is in use by {owner}, which runs its embedded PostgreSQL and S3."
                " Stop that one first, or give this one its own DEV_DATA_DIR (or point DATABASE_URL and"
                " S3_ENDPOINT_URL at running services)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({' '.join(sys.orig_argv)})\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
