"""Opaque, signed keyset cursors: base64url(JSON {"after": [txid, seq]}) + "." + HMAC.

Signing makes a forged or foreign cursor (another deployment's secret) a clear 400 instead of
a silently wrong page. A cursor from before migration 0006 ({"after": seq}) still works: the rows
it points among are those of transaction 0."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from imageapi.core.errors import BadRequest

_INVALID = "Invalid cursor: use the next_cursor value of a previous page"

Position = tuple[int, int]  # (txid, commit_seq) of the last row a page showed


def encode_cursor(after: Position, *, secret: bytes) -> str:
    """A cursor for the rows listed after the one at position `after` (older ones)."""
    payload = base64.urlsafe_b64encode(json.dumps({"after": list(after)}).encode())
    return f"{payload.decode().rstrip('=')}.{_sign(payload.rstrip(b'='), secret)}"


def decode_cursor(cursor: str, *, secret: bytes) -> Position:
    payload, _, signature = cursor.partition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _sign(payload.encode(), secret).encode()):
        raise BadRequest(_INVALID)
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        after = json.loads(raw)["after"]
        if type(after) is int:  # a cursor served before migration 0006
            after = [0, after]
        if type(after) is not list or len(after) != 2 or any(type(v) is not int or v < 0 for v in after):
            raise ValueError("not a position")
        return after[0], after[1]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(_INVALID) from exc


def _sign(payload: bytes, secret: bytes) -> str:
    digest = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def read_cursor(cursor: str | None, *, secret: bytes) -> Position | None:
    return None if cursor is None else decode_cursor(cursor, secret=secret)
