"""Upload sessions within bounds on every target: JSON bodies of limited size and strict types,
a limited number of pending sessions per token or client address, file names cut to 255
bytes, and no bidi controls in what is stored."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import Stores
from tests.http.test_upload_sessions import put
from tests.support.api import UPLOADS, Api, json_of
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import Target

PNG = make_image("PNG", (8, 8))
TOKENS = "first-token-0123456789,second-token-9876543210"
FIELDS = {"description": "A photo", "filename": "photo.png", "size_bytes": len(PNG)}


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def test_a_json_body_over_the_limit_is_413_and_stores_nothing(api: Api, stores: Stores) -> None:
    body = json.dumps({**FIELDS, "filename": "x" * 70_000 + ".png"}).encode()  # > 64 KiB
    response = api.target.request("POST", UPLOADS, headers={"content-type": "application/json"}, body=body)
    assert response.status == 413, response.body
    assert json_of(response)["detail"] == "The JSON body is larger than 65536 bytes, the most this API reads"
    assert stores.upload_sessions() == []


def test_complete_refuses_a_body_over_the_limit(api: Api, stores: Stores) -> None:
    session = api.create_session_ok(**FIELDS)
    assert put(session, PNG).status_code == 200
    path = f"{UPLOADS}/{session['upload_id']}/complete"
    response = api.target.request(
        "POST", path, headers={"content-type": "application/json"}, body=b" " * 70_000
    )
    assert response.status == 413, response.body
    assert stores.rows() == []
    assert api.complete(session["upload_id"]).status == 201  # the session is intact


def test_the_limit_is_a_setting(api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({**FIELDS, "description": "d" * 900}).encode()
    with layer_env(monkeypatch, MAX_JSON_BODY_BYTES="1024"):
        assert (
            api.target.request(
                "POST", UPLOADS, headers={"content-type": "application/json"}, body=body
            ).status
            == 201
        )
        bigger = json.dumps({**FIELDS, "description": "d" * 1000}).encode()
        response = api.target.request(
            "POST", UPLOADS, headers={"content-type": "application/json"}, body=bigger
        )
        assert response.status == 413, response.body
        assert "1024 bytes" in json_of(response)["detail"]


LOOSE = [
    pytest.param("size_bytes", True, id="true as an integer"),
    pytest.param("size_bytes", str(len(PNG)), id="a string of digits as an integer"),
    pytest.param("size_bytes", float(len(PNG)), id="a whole float as an integer"),
]


@pytest.mark.parametrize(("field", "value"), LOOSE)
def test_json_types_are_strict(api: Api, stores: Stores, field: str, value: object) -> None:
    response = api.create_session(**{**FIELDS, field: value})
    assert response.status == 422, response.body
    [error] = json_of(response)["detail"]
    assert error["loc"] == ["body", field]
    assert set(error) == {"loc", "msg", "type"}  # the shape every 422 of the API has
    assert stores.upload_sessions() == []


def test_invalid_json_keeps_the_422_shape(api: Api, stores: Stores) -> None:
    response = api.target.request("POST", UPLOADS, headers={"content-type": "application/json"}, body=b"{")
    assert response.status == 422, response.body
    [error] = json_of(response)["detail"]
    assert (error["loc"][0], error["type"]) == ("body", "json_invalid")


def test_a_long_file_name_is_cut_to_255_bytes(api: Api, stores: Stores) -> None:
    session = api.create_session_ok(**{**FIELDS, "filename": "日" * 10_000 + ".png"})
    [row] = stores.upload_sessions()
    assert row["filename"] == "日" * 83 + ".png"  # 253 bytes: an 84th character would make 256
    assert put(session, PNG).status_code == 200
    image = json_of(api.complete(session["upload_id"]))
    assert image["filename"] == "日" * 83 + ".png"


def test_bidi_controls_are_dropped_from_what_is_stored(api: Api, stores: Stores) -> None:
    session = api.create_session_ok(
        **{**FIELDS, "description": "Holiday \u202egpj.exe\u202c \u2067x\u2069", "filename": "a\u202eb.png"}
    )
    [row] = stores.upload_sessions()
    assert (row["description"], row["filename"]) == ("Holiday gpj.exe x", "ab.png")
    assert put(session, PNG).status_code == 200
    assert json_of(api.complete(session["upload_id"]))["description"] == "Holiday gpj.exe x"
    uploaded = api.upload_ok(PNG, description="\u202dleft\u202a \u2066to\u2068 right\u202b")
    assert uploaded["description"] == "left to right"


def test_a_description_of_bidi_controls_only_is_empty(api: Api, stores: Stores) -> None:
    response = api.create_session(**{**FIELDS, "description": "\u202e\u2066 \u2069"})
    assert response.status == 422
    assert json_of(response)["detail"] == "description must not be empty"


def test_pending_sessions_are_limited_per_address(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, MAX_PENDING_UPLOAD_SESSIONS="3"):
        sessions = [api.create_session_ok(**FIELDS) for _ in range(3)]
        refused = api.create_session(**FIELDS)
        assert refused.status == 429, refused.body
        assert "3 upload sessions are pending already" in json_of(refused)["detail"]
        assert 3500 <= int(refused.header("retry-after") or 0) <= 3600  # when the oldest expires
        # A header any client can write changes nothing.
        spoofed = api.with_headers({"x-forwarded-for": "203.0.113.9"}).create_session(**FIELDS)
        assert spoofed.status == 429
        assert len(stores.upload_sessions()) == 3

        # A completed session no longer counts, nor does an expired one.
        assert put(sessions[0], PNG).status_code == 200
        assert api.complete(sessions[0]["upload_id"]).status == 201
        api.create_session_ok(**FIELDS)
        assert api.create_session(**FIELDS).status == 429
        _expire(stores, sessions[1]["upload_id"])
        api.create_session_ok(**FIELDS)
        assert api.create_session(**FIELDS).status == 429


def test_pending_sessions_are_limited_per_token(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, API_TOKENS=TOKENS, MAX_PENDING_UPLOAD_SESSIONS="2"):
        first = api.with_headers({"authorization": "Bearer first-token-0123456789"})
        second = api.with_headers({"authorization": "Bearer second-token-9876543210"})
        first.create_session_ok(**FIELDS)
        first.create_session_ok(**FIELDS)
        assert first.create_session(**FIELDS).status == 429
        second.create_session_ok(**FIELDS)  # the same address, another token
        owners = {row["owner_key"] for row in stores.upload_sessions()}
        assert len(owners) == 2 and not any("token-" in owner for owner in owners)  # digests only


def test_a_retry_of_a_session_at_the_limit_replays_it(
    api: Api, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    with layer_env(monkeypatch, MAX_PENDING_UPLOAD_SESSIONS="1"):
        keyed = api.with_headers({"idempotency-key": "retry-at-the-limit"})
        created = keyed.create_session_ok(**FIELDS)
        again = keyed.create_session(**FIELDS)
        assert (again.status, json_of(again)["upload_id"]) == (201, created["upload_id"])
        assert api.create_session(**FIELDS).status == 429


def _expire(stores: Stores, upload_id: str) -> None:
    with psycopg.connect(stores.env["DATABASE_URL"], autocommit=True) as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        conn.execute("UPDATE upload_sessions SET expires_at = %s WHERE id = %s", (past, upload_id))


HUGE = 300 * 1024 * 1024
CHUNK = 64 * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused_before_it_is_sent(dev_server: str, stores: Stores, chunked: bool) -> None:
    """300 MB over real HTTP: the answer arrives while the client is still sending, so the
    server did not read the body first (the old code read it all, then answered 422)."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    head = f"POST {UPLOADS} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    status, body, sent = _send_until_answered(dev_server, head.encode(), _body_chunks(chunked=chunked))
    assert status == 413, body
    assert json.loads(body)["detail"] == "The JSON body is larger than 65536 bytes, the most this API reads"
    assert sent < HUGE // 4, f"the client sent {sent} bytes before the answer came"
    assert stores.upload_sessions() == []


def _body_chunks(*, chunked: bool) -> Iterator[bytes]:
    piece = b'{"description": "' + b"x" * (CHUNK - 17)
    for _ in range(HUGE // CHUNK):
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        piece = b"x" * CHUNK
    if chunked:
        yield b"0\r\n\r\n"


def _send_until_answered(url: str, head: bytes, chunks: Iterator[bytes]) -> tuple[int, bytes, int]:
    """Sends head, then chunks until the server answers (or stops taking them); returns the
    answer's status and body and how many body bytes went out before it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.settimeout(60)  # a guard against a hang, not a measure: nothing asserts on time
        sock.sendall(head)
        sent = 0
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is here
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(chunk)
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _answer_length(received):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    header, _, body = received.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    return status, body[: _answer_length(received) - len(header) - 4], sent


def _answer_length(received: bytes) -> int:
    header, _, _ = received.partition(b"\r\n\r\n")
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(header) + 4 + int(value)
    return len(received) + 1  # read until the server closes


def test_an_edit_over_the_body_limit_is_413_and_changes_nothing(api: Api, stores: Stores) -> None:
    image = api.upload_ok(PNG, description="before")
    body = json.dumps({"description": "x" * 70_000}).encode()
    path = f"/api/v1/images/{image['id']}"
    response = api.target.request("PATCH", path, headers={"content-type": "application/json"}, body=body)
    assert response.status == 413, response.body
    not_json = api.target.request(
        "PATCH", path, headers={"content-type": "text/plain"}, body=b'{"description": "x"}'
    )
    assert not_json.status == 415, not_json.body
    assert [row["description"] for row in stores.rows()] == ["before"]
