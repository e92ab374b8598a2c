"""Signed keyset cursors round-trip, and anything else is a 400."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from imageapi.errors import BadRequest
from imageapi.pagination import decode_cursor, encode_cursor

SECRET = b"secret"


def test_round_trip_keeps_microseconds_and_id() -> None:
    when, image_id = datetime(2026, 11, 27, 15, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(when, image_id, secret=SECRET), secret=SECRET) == (when, image_id)


@pytest.mark.parametrize("cursor", ["", ".", "abc", "abc.def", "é.é", "x" * 300])
def test_garbage_is_a_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest, match="Invalid cursor"):
        decode_cursor(cursor, secret=SECRET)


def test_another_secret_is_refused() -> None:
    cursor = encode_cursor(datetime.now(UTC), uuid.uuid4(), secret=b"other")
    with pytest.raises(BadRequest):
        decode_cursor(cursor, secret=SECRET)
