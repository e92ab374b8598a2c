"""JSON request bodies: bounded before they are read, parsed strictly.

A route takes its JSON body through json_body (a route without one adds
`dependencies=[BOUNDED_BODY]`), never as a plain `body: Model` parameter: FastAPI reads a
declared body whole before it solves any dependency, so a limit checked in a dependency would
come after the whole body sat in memory. Here the body is read by the dependency itself: a
Content-Length over MAX_JSON_BODY_BYTES is refused before a byte of it is read, and a body
without one (chunked) as soon as the bytes counted pass the limit. On Lambda the body is in the
event already; it is still refused, so every target answers alike."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from imageapi.core.errors import PayloadTooLarge, UnsupportedMediaType
from imageapi.core.settings import get_settings


async def bounded_body(request: Request) -> bytes:
    """The request's body, at most MAX_JSON_BODY_BYTES of it; 413 past that."""
    limit = get_settings().max_json_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


BOUNDED_BODY = Depends(bounded_body)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The JSON body is larger than {limit} bytes, the most this API reads")


def json_body(model: type[BaseModel]) -> Any:
    """The dependency of a route's JSON body, in one line:
    `body: Annotated[Model, json_body(Model)]`, with `openapi_extra=json_request_body(Model)`.
    It reads the body within the limit and validates it as model in strict mode (no "5", 5.0
    or true for an integer); errors are FastAPI's own 422 shape, under ("body", ...)."""

    async def parse(request: Request, raw: Annotated[bytes, BOUNDED_BODY]) -> BaseModel:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise UnsupportedMediaType("The body must be JSON, sent as Content-Type: application/json")
        try:
            return model.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    return Depends(parse)


def json_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The route's openapi_extra entry documenting the body FastAPI no longer sees."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
