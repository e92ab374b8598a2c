"""Schemathesis against the dev server's OpenAPI document, over real HTTP, bounded in examples:
no 5xx, and every response (status, headers, body) conforms to the document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Stores

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_api_conforms_to_its_openapi_document(dev_server: str, stores: Stores) -> None:
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{dev_server}/openapi.json",
            "--checks",
            "all",
            # A schema cannot say "these bytes must be an image of an accepted type": schema-valid
            # uploads are rightly refused with the documented 415/422. And the fuzzer reuses
            # Idempotency-Key values: a reused key replays its first 201 (Idempotent-Replayed),
            # whose image a DELETE may since have removed, which ensure_resource_availability
            # takes for a created resource that is missing.
            "--exclude-checks",
            "positive_data_acceptance,ensure_resource_availability",
            "--max-examples",
            "40",
            "--seed",
            "20261127",
            "--generation-deterministic",
            "--request-timeout",
            "30",
            "--max-response-time",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    assert "No issues found" in report or "passed" in report, report[-3000:]
