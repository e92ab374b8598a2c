"""Opaque, signed keyset cursors: base64url(JSON {"after": commit_seq}) + "." + HMAC.

Signing makes a forged or foreign cursor (another deployment's secret) a clear 400 instead of
a silently wrong page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from imageapi.core.errors import BadRequest

_INVALID = "Invalid cursor: use the next_cursor value of a previous page"


def encode_cursor(after: int, *, secret: bytes) -> str:
    """A cursor for the rows listed after the one whose commit_seq is `after` (older ones)."""
    payload = base64.urlsafe_b64encode(json.dumps({"after": after}).encode())
    return f"{payload.decode().rstrip('=')}.{_sign(payload.rstrip(b'='), secret)}"


def decode_cursor(cursor: str, *, secret: bytes) -> int:
    payload, _, signature = cursor.partition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _sign(payload.encode(), secret).encode()):
        raise BadRequest(_INVALID)
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        after = json.loads(raw)["after"]
        if type(after) is not int or after < 0:
            raise ValueError("not a position")
        return after
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(_INVALID) from exc


def _sign(payload: bytes, secret: bytes) -> str:
    digest = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def read_cursor(cursor: str | None, *, secret: bytes) -> int | None:
    return None if cursor is None else decode_cursor(cursor, secret=secret)
