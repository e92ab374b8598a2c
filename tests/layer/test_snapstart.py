"""SnapStart's hooks, played locally against the real PostgreSQL and S3: before-snapshot hooks,
then two forks of the warm process as two restored copies (tests/support/snapstart.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from local.routes import LAYER_DIR
from tests.support.processes import ROOT


@pytest.fixture(scope="module")
def lifecycle(services: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.snapstart"],
        cwd=ROOT,
        env={**os.environ, **services, "PYTHONPATH": os.pathsep.join([str(LAYER_DIR), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_every_api_function_registers_both_hooks(lifecycle: dict[str, Any]) -> None:
    assert lifecycle["snapshot"]["hooks"] == [2, 2]  # the two functions loaded, one of each per app


def test_before_the_snapshot_connections_and_clients_are_let_go(lifecycle: dict[str, Any]) -> None:
    snapshot = lifecycle["snapshot"]
    assert snapshot["requests"]["upload"] == 201 and snapshot["requests"]["get"] == 200
    assert snapshot["connection_released"] is True  # closed, and nothing holds it any more
    assert snapshot["s3_client_released"] is True  # and the credentials it resolved with it
    assert snapshot["database_cached"] == 0 and snapshot["storage_cached"] == 0
    assert snapshot["s3_model_primed"] is True  # parsed before the snapshot, shared by the copies


def test_restored_copies_serve_on_connections_of_their_own(
    lifecycle: dict[str, Any], services: dict[str, str]
) -> None:
    copies = lifecycle["copies"]
    assert len(copies) == 2
    for copy in copies:
        assert "error" not in copy, copy["error"]
        assert copy["requests"]["upload"] == 201 and copy["requests"]["get"] == 200
    pids = {lifecycle["snapshot"]["backend_pid"], *(copy["backend_pid"] for copy in copies)}
    assert len(pids) == 3  # each copy opened its own database session after the restore
    ids = [copy["requests"]["image_id"] for copy in copies]
    with psycopg.connect(services["DATABASE_URL"]) as conn:
        stored = conn.execute("SELECT count(*) FROM images WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()
    assert stored == (2,)


def test_restored_copies_share_nothing_random(lifecycle: dict[str, Any]) -> None:
    first, second = lifecycle["copies"]
    for drawn in ("random", "uuid4", "token"):
        assert first[drawn] != second[drawn], drawn
    assert first["requests"]["image_id"] != second["requests"]["image_id"]
