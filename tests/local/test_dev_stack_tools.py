"""What a person meets around `make dev`: a taken port refused before anything starts, the tools
(`make migrate`, `make reconcile`, `make psql`) pointed at the running stack, and a log that shows
no error or warning when nothing went wrong."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from local.services import s3_client
from local.stackenv import environment_for_tools
from tests.conftest import _free_port
from tests.support.images import make_image
from tests.support.processes import ROOT, dev_server_process


def _own_stack(data_dir: Path) -> dict[str, str]:
    """The environment of `make dev` with nothing configured (not even XDG_RUNTIME_DIR, as on a
    server or in a container): it starts its own services."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "S3_", "LOCALSTACK", "XDG_RUNTIME_DIR"))
    }
    # as the Makefile exports it, for `python -m imageapi...`
    pythonpath = f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"
    return {**env, "DEV_DATA_DIR": str(data_dir), "PYTHONPATH": pythonpath}


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("module", "command"), [("local.devserver", "make dev"), ("local.gateway", "make gateway")]
)
def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path, module: str, command: str) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run([sys.executable, "-m", module], {**_own_stack(data_dir), "DEV_PORT": str(port)})
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is not free" in result.stderr
    assert f"DEV_PORT={port + 1} {command}" in result.stderr
    assert "Image API on" not in result.stdout  # no banner
    assert not data_dir.exists()  # neither PostgreSQL nor S3 was started over it


def test_migrate_reconcile_and_psql_use_the_running_dev_stack(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _own_stack(data_dir)
    through_stack = [sys.executable, "-m", "local.stackenv"]
    with dev_server_process(env, port=_free_port()) as (base, banner, _):
        settings_file = data_dir / "stack.env"
        assert f"Settings    {settings_file}" in banner
        assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600  # it holds the S3 secret
        created = httpx.post(
            f"{base}/api/v1/images/",
            data={"description": "kept"},
            files={"file": ("k.png", make_image("PNG"))},
            timeout=30,
        )
        assert created.status_code == 201
        # an object without a row, put straight into make dev's S3 with the file's own credentials
        stack_env, taken = environment_for_tools(env, data_dir)
        assert taken == ["PostgreSQL", "S3"]
        orphan = f"images/{uuid.uuid4()}"
        s3 = s3_client(
            stack_env["S3_ENDPOINT_URL"],
            aws_access_key_id=stack_env["S3_ACCESS_KEY_ID"],
            aws_secret_access_key=stack_env["S3_SECRET_ACCESS_KEY"],
        )
        s3.put_object(Bucket=stack_env["S3_BUCKET"], Key=orphan, Body=b"left over")

        reconciled = _run(
            [
                *through_stack,
                sys.executable,
                "-m",
                "imageapi.store.reconcile",
                "--grace-minutes",
                "0",
                "--max-share",
                "1",
            ],
            env,
        )
        assert reconciled.returncode == 0, reconciled.stderr
        assert "Using make dev's PostgreSQL and S3" in reconciled.stderr
        report = json.loads(reconciled.stdout)
        assert report["objects_without_rows"] == [orphan]
        assert report["rows_without_objects"] == []

        migrated = _run([*through_stack, sys.executable, "-m", "imageapi.store.migrate"], env)
        assert migrated.returncode == 0, migrated.stderr

        psql = _run([*through_stack, "psql", "-At", "-c", "select count(*) from images"], env)
        assert psql.returncode == 0, psql.stderr
        assert psql.stdout.strip() == "1"

        # the shell wins, store by store
        shell_db = {**env, "DATABASE_URL": "postgresql://shell@/db"}
        merged, taken = environment_for_tools(shell_db, data_dir)
        assert merged["DATABASE_URL"] == "postgresql://shell@/db"
        assert taken == ["S3"] and merged["S3_ENDPOINT_URL"] == stack_env["S3_ENDPOINT_URL"]
    assert not settings_file.exists()  # removed when the stack stopped
    stopped = _run([*through_stack, sys.executable, "-m", "imageapi.store.reconcile"], env)
    assert stopped.returncode != 0
    assert "No dev stack is running" in stopped.stderr


def test_a_normal_run_with_an_expected_413_logs_no_error_or_warning(tmp_path: Path) -> None:
    # The smallest part size, so that the upload is streaming into S3 when the limit stops it.
    # LOG_LEVEL as a person has it (the suite's own services log warnings only).
    env = {**_own_stack(tmp_path / "data"), "MAX_UPLOAD_BYTES": str(6 * 1024 * 1024), "LOG_LEVEL": "INFO"}
    too_large = make_image("JPEG", (64, 64)) + os.urandom(7 * 1024 * 1024)
    transcript: list[str] = []
    with dev_server_process(env, port=_free_port(), transcript=transcript) as (base, _, _):
        answer = httpx.post(
            f"{base}/api/v1/images/",
            data={"description": "too large"},
            files={"file": ("big.jpg", too_large)},
            timeout=60,
        )
        assert answer.status_code == 413
    output = "".join(transcript)
    assert '"status": 413' in output  # the access line: the request was seen and answered
    for noise in ("ERROR", "NOTICE: Failed", "XDG_RUNTIME_DIR", "Warning"):
        assert noise not in output, output
