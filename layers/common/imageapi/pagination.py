"""Opaque, signed keyset cursors: base64url(JSON [created_at, id]) + "." + HMAC.

Signing makes a forged or foreign cursor (another deployment's secret) a clear 400 instead of
a silently wrong page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from datetime import datetime

from .errors import BadRequest

_INVALID = "Invalid cursor: use the next_cursor value of a previous page"


def encode_cursor(created_at: datetime, image_id: uuid.UUID, *, secret: bytes) -> str:
    payload = base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), str(image_id)]).encode())
    return f"{payload.decode().rstrip('=')}.{_sign(payload.rstrip(b'='), secret)}"


def decode_cursor(cursor: str, *, secret: bytes) -> tuple[datetime, uuid.UUID]:
    payload, _, signature = cursor.partition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _sign(payload.encode(), secret).encode()):
        raise BadRequest(_INVALID)
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        created_at, image_id = json.loads(raw)
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, uuid.UUID(image_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(_INVALID) from exc


def _sign(payload: bytes, secret: bytes) -> str:
    digest = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def read_cursor(cursor: str | None, *, secret: bytes) -> tuple[datetime, uuid.UUID] | None:
    return None if cursor is None else decode_cursor(cursor, secret=secret)
