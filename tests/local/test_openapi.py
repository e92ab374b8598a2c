"""The dev server's /openapi.json documents every operation: a summary written for it (not one
FastAPI makes from the function's name), a description, and the error answers, 503 included."""

from __future__ import annotations

from typing import Any

import pytest

from local.devserver import DevServer

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def operations(services: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    spec = DevServer().openapi()
    return [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items() if m in METHODS]


def test_every_operation_has_a_written_summary_and_a_description(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    assert len(operations) >= 10
    for method, path, operation in operations:
        generated = operation["operationId"].split("_api_")[0].replace("_", " ").title()
        assert operation.get("summary") and operation["summary"] != generated, (method, path)
        assert len(operation.get("description", "")) > 40, (method, path)


def test_every_operation_documents_503_and_its_errors(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for method, path, operation in operations:
        responses = operation["responses"]
        assert {"422", "500", "503"} <= responses.keys(), (method, path)
        assert "Retry-After" in responses["503"]["description"], (method, path)
