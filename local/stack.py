"""The local stack behind `make dev` and `make gateway`: PostgreSQL and S3 (started here unless
configured), the bucket, the migrations, and a banner saying what persists."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

from local.routes import LAYER_DIR, ROOT
from local.services import (
    apply_environment,
    embedded_postgres,
    ensure_bucket,
    exit_on_sigterm,
    moto_s3,
    s3_environment,
)

DATA_DIR = Path(os.environ.get("DEV_DATA_DIR", ROOT / ".local-data"))


@contextmanager
def local_stack(*, heading: str) -> Iterator[str]:
    """Yields the start-up banner (heading, then what runs where and what persists) once
    everything is ready; stops what it started."""
    import sys

    sys.path.insert(0, str(LAYER_DIR))
    refuse_invalid_settings()
    exit_on_sigterm()
    lines = []
    with ExitStack() as stack:
        if os.environ.get("DATABASE_URL"):
            lines.append("PostgreSQL  DATABASE_URL (external; persists as that server does)")
        else:
            url = stack.enter_context(embedded_postgres(DATA_DIR / "postgres", keep=True))
            apply_environment({"DATABASE_URL": url})
            lines.append(f"PostgreSQL  embedded, data in {DATA_DIR / 'postgres'}: kept across restarts")
        local_s3 = not (os.environ.get("S3_ENDPOINT_URL") or os.environ.get("LOCALSTACK_HOST"))
        if local_s3:
            endpoint = stack.enter_context(moto_s3())
            apply_environment(s3_environment(endpoint))
            lines.append(f"S3          in memory at {endpoint}: files are lost when this server stops")
        else:
            lines.append("S3          S3_ENDPOINT_URL / LOCALSTACK_HOST (external)")
        os.environ.setdefault("DATABASE_POOL_SIZE", "10")

        from imageapi.migrate import migrate
        from imageapi.reconcile import reconcile
        from imageapi.settings import get_settings
        from imageapi.storage import get_storage

        ensure_bucket(get_storage().client, get_settings().s3_bucket)
        applied = migrate()
        lines.append(f"Migrations  {', '.join(applied) if applied else 'up to date'}")
        if local_s3:
            # S3 starts empty, so rows from an earlier run point at lost files: remove them.
            report = reconcile(apply=True, grace=timedelta(0))
            lines.append(
                f"Consistency {len(report.rows_without_objects)} image rows from the last run removed"
                " (their files were in memory); images never outlive their files"
            )
        yield "\n".join(["", heading, *("  " + line for line in lines), ""])


def refuse_invalid_settings() -> None:
    """Exits with the settings' own message (API_TOKENS set but empty, a short token, ...)
    before anything is started."""
    from pydantic import ValidationError

    from imageapi.settings import Settings

    try:
        Settings()
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise SystemExit(f"Invalid settings: {problems}") from None
