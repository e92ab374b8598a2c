"""Idempotency-Key (IETF httpapi draft, draft-ietf-httpapi-idempotency-key-header): a client
whose reply was lost sends the same request again with the same key, and gets the first outcome
instead of a second image or session.

- The first request with a key holds it while it runs (a lease) and records its outcome: the
  201, or a refusal (4xx) whose request it could tell apart. A 409, a 5xx or a crash records
  nothing: a retry runs again, with the resource id the key was first given, so a write whose
  outcome was unknown is found rather than made twice.
- A retry of the same request within a day (store.idempotency.LIFETIME) gets that outcome,
  marked Idempotent-Replayed.
- The same key with another request is a 422; while the first still runs, a 409 with Retry-After.

What counts as "the same request" is what it asks for: the JSON body of a session, the upload
id of a complete, and for a multipart upload its description, file name and file's SHA-256
(a retry's multipart boundary may differ)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from imageapi.core.errors import ApiError, BadRequest, Unprocessable
from imageapi.store import idempotency
from imageapi.store.db import Database

HEADER = "Idempotency-Key"
LEASE_MARGIN_SECONDS = 10.0  # a key's holder has answered or ended this long after its deadline
_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')  # an sf-string's visible characters, quoted or not
_REPLAYED = "Idempotent-Replayed"
_NOT_RECORDED = {409, 429}  # "try again later": a retry must run again

# The header in the OpenAPI document of each route that takes it.
OPENAPI_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Any unique value (a UUID): a retry with the same key and the same request within"
    " 24 hours gets the first outcome (marked Idempotent-Replayed) instead of writing again.",
}

# work(resource id, resumed): resumed when an earlier holder of the key died, so its write may
# already have happened under that id.
Work = Callable[[uuid.UUID, bool], Awaitable[tuple[JSONResponse, str]]]


class KeyInUse(ApiError):
    status_code = 409

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed: try again shortly",
            headers={"Retry-After": "2"},
        )


class KeyReused(Unprocessable):
    def __init__(self) -> None:
        super().__init__(f"This {HEADER} was already used for a different request")


def fingerprint(*parts: str | bytes) -> str:
    """A digest of what a request asks for (each part length-prefixed, so no two lists collide)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def key_of(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    match = _KEY.match(raw.strip())
    if match is None:
        raise BadRequest(f"{HEADER} must be 1 to 255 visible ASCII characters (a quoted string)")
    return match.group(1)


async def idempotent(
    request: Request,
    *,
    route: str,
    db: Database,
    lease_seconds: float,
    work: Work,
    fingerprint: str | None = None,
    fingerprint_of_retry: Callable[[], Awaitable[str]] | None = None,
) -> JSONResponse:
    """Runs work(resource id) once per key. work returns its response and the request's
    fingerprint; a retry's fingerprint is given, or read by fingerprint_of_retry."""
    key = key_of(request)
    if key is None:
        response, _ = await work(uuid.uuid4(), False)
        return response
    owner = uuid.uuid4()
    row, mine = await run_in_threadpool(
        db.run,
        idempotency.claim_key,
        route=route,
        key=key,
        owner=owner,
        resource_id=uuid.uuid4(),
        fingerprint=fingerprint,
        lease_seconds=lease_seconds + LEASE_MARGIN_SECONDS,
        lifetime_seconds=idempotency.LIFETIME.total_seconds(),
    )
    if not mine:
        if row.state != "done" and (fingerprint is None or row.fingerprint in (None, fingerprint)):
            raise KeyInUse()
        asked = fingerprint if fingerprint is not None else await _read_fingerprint(fingerprint_of_retry)
        if asked != row.fingerprint:
            raise KeyReused()
        return _replay(row)
    try:
        response, asked = await work(row.resource_id, row.resumed)
    except ApiError as exc:
        if exc.status_code >= 500 or exc.status_code in _NOT_RECORDED or fingerprint is None:
            await _release(db, route=route, key=key, owner=owner)
        else:
            body = bytes(JSONResponse({"detail": exc.detail}).body).decode()
            await _record(db, route, key, owner, fingerprint, exc.status_code, body, None)
        raise
    except BaseException:
        await _release(db, route=route, key=key, owner=owner)
        raise
    if response.status_code >= 500 or response.status_code in _NOT_RECORDED:
        await _release(db, route=route, key=key, owner=owner)
    else:
        body = bytes(response.body).decode()
        await _record(
            db, route, key, owner, asked, response.status_code, body, response.headers.get("location")
        )
    return response


async def _read_fingerprint(reader: Callable[[], Awaitable[str]] | None) -> str:
    assert reader is not None, "a route whose fingerprint is not known up front must say how to read it"
    return await reader()


def _replay(row: idempotency.KeyRow) -> JSONResponse:
    assert row.status_code is not None and row.response_body is not None
    headers = {_REPLAYED: "true"}
    if row.location:
        headers["Location"] = row.location
    response = JSONResponse(None, status_code=row.status_code, headers=headers)
    response.body = row.response_body.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


async def _record(
    db: Database,
    route: str,
    key: str,
    owner: uuid.UUID,
    asked: str,
    status_code: int,
    body: str,
    location: str | None,
) -> None:
    """Best effort: a failure to record leaves the key to run again, never a failed request."""
    with contextlib.suppress(ApiError):
        await run_in_threadpool(
            db.run,
            idempotency.record_outcome,
            route=route,
            key=key,
            owner=owner,
            fingerprint=asked,
            status_code=status_code,
            response_body=body,
            location=location,
        )


async def _release(db: Database, *, route: str, key: str, owner: uuid.UUID) -> None:
    with contextlib.suppress(ApiError):  # if it fails, its lease runs out by itself
        await run_in_threadpool(db.run, idempotency.release_key, route=route, key=key, owner=owner)
