"""Bad input on every route and every target: the right 4xx, a clear JSON error, nothing stored."""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from imageapi.http.pagination import encode_cursor
from tests.conftest import Stores
from tests.support.api import IMAGES, Api, json_of
from tests.support.images import HTML, SVG, TEXT, make_image, png_declaring, webp_nesting_frames
from tests.support.layer import layer_env
from tests.support.multipart import BOUNDARY, encode
from tests.support.targets import Target

PNG = make_image("PNG")
JPEG = make_image("JPEG")
GIF = make_image("GIF")
LIMIT = 4096  # MAX_UPLOAD_BYTES during these tests


@dataclass
class Case:
    name: str
    status: int
    detail: str  # a piece of the error's detail
    body: bytes = b""
    content_type: str | None = None
    method: str = "POST"
    path: str = IMAGES
    headers: dict[str, str] = field(default_factory=dict)


def form(
    *fields: tuple[str, str | bytes], files: list[tuple[str, str, bytes, str]] | None = None
) -> tuple[bytes, str]:
    return encode(list(fields), files or [])


def upload_case(name: str, status: int, detail: str, body_and_type: tuple[bytes, str]) -> Case:
    body, content_type = body_and_type
    return Case(name, status, detail, body=body, content_type=content_type)


def image_file(
    data: bytes, filename: str = "photo.png", content_type: str = "image/png"
) -> list[tuple[str, str, bytes, str]]:
    return [("file", filename, data, content_type)]


DESC = ("description", "A photo")
UPLOAD_CASES = [
    upload_case("missing file", 422, "file is required", form(DESC)),
    upload_case("missing description", 422, "description is required", form(files=image_file(PNG))),
    upload_case("duplicated description", 422, "more than once", form(DESC, DESC, files=image_file(PNG))),
    upload_case("duplicated file", 422, "more than once", form(DESC, files=image_file(PNG) * 2)),
    upload_case(
        "empty description", 422, "must not be empty", form(("description", ""), files=image_file(PNG))
    ),
    upload_case(
        "blank description", 422, "must not be empty", form(("description", " \t\n "), files=image_file(PNG))
    ),
    upload_case(
        "description too long", 422, "at most 1000", form(("description", "x" * 1001), files=image_file(PNG))
    ),
    upload_case(
        # U+0958 has no composed form: NFC makes each one two characters, 1,002 in all.
        "description too long once normalised",
        422,
        "at most 1000 characters once normalised (Unicode NFC, as stored); this one has 1002",
        form(("description", "\u0958" * 501), files=image_file(PNG)),
    ),
    upload_case(
        "description not UTF-8",
        422,
        "valid UTF-8",
        form(("description", b"caf\xe9 \xff"), files=image_file(PNG)),
    ),
    upload_case(
        "description with NUL",
        422,
        "control characters",
        form(("description", "a\x00b"), files=image_file(PNG)),
    ),
    upload_case("zero-byte file", 422, "empty", form(DESC, files=image_file(b""))),
    upload_case(
        "one byte over the limit",
        413,
        "larger than 4096",
        form(DESC, files=image_file(b"\x89PNG" + b"\0" * (LIMIT - 3))),
    ),
    upload_case("truncated PNG", 422, "truncated", form(DESC, files=image_file(PNG[: len(PNG) // 2]))),
    upload_case(
        "truncated JPEG", 422, "truncated", form(DESC, files=image_file(JPEG[:-40], "a.jpg", "image/jpeg"))
    ),
    upload_case(
        "text sent as JPEG",
        415,
        "Unsupported file type",
        form(DESC, files=image_file(TEXT, "a.jpg", "image/jpeg")),
    ),
    upload_case(
        "HTML sent as JPEG",
        415,
        "Unsupported file type",
        form(DESC, files=image_file(HTML, "a.jpg", "image/jpeg")),
    ),
    upload_case(
        "SVG with script",
        415,
        "Unsupported file type",
        form(DESC, files=image_file(SVG, "a.svg", "image/svg+xml")),
    ),
    upload_case(
        "GIF/HTML polyglot",
        415,
        "polyglot",
        form(DESC, files=image_file(GIF[:-1] + b"<script>alert(1)</script>;", "a.gif", "image/gif")),
    ),
    upload_case(
        "PNG with script in the data after its end",
        415,
        "polyglot",
        form(DESC, files=image_file(PNG + b"PK\x03\x04" + b"<script>alert(1)</script>")),
    ),
    upload_case(
        "PNG ending inside its last chunk",
        422,
        "truncated",
        form(DESC, files=image_file(PNG[:-6])),
    ),
    upload_case(
        "WebP nesting animation frames",
        422,
        "do not nest",
        form(DESC, files=image_file(webp_nesting_frames(150), "a.webp", "image/webp")),
    ),
    upload_case(
        "huge declared dimensions",
        422,
        "pixels",
        form(DESC, files=image_file(png_declaring(100_000, 100_000))),
    ),
    upload_case("zero declared width", 422, "zero width", form(DESC, files=image_file(png_declaring(0, 10)))),
    upload_case(
        "unexpected field", 422, "Unexpected form field", form(DESC, ("admin", "1"), files=image_file(PNG))
    ),
    upload_case("file sent as text", 422, "file part", form(DESC, ("file", "not a file"))),
    upload_case(
        "description sent as file",
        422,
        "text field",
        form(files=[*image_file(PNG), ("description", "d.txt", b"hi", "text/plain")]),
    ),
    upload_case(
        "SQL in description field name",
        422,
        "Unexpected form field",
        form(DESC, ("description'; DROP TABLE images;--", "x"), files=image_file(PNG)),
    ),
    Case(
        "wrong boundary",
        400,
        "Malformed multipart",
        body=form(DESC, files=image_file(PNG))[0],
        content_type="multipart/form-data; boundary=not-the-boundary",
    ),
    Case(
        "missing boundary",
        400,
        "no boundary",
        body=form(DESC, files=image_file(PNG))[0],
        content_type="multipart/form-data",
    ),
    Case(
        "no closing boundary",
        400,
        "Malformed multipart",
        body=form(DESC, files=image_file(PNG))[0][: -len(BOUNDARY) - 8],
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    ),
    Case(
        "JSON body",
        415,
        "multipart/form-data",
        body=json.dumps({"description": "x"}).encode(),
        content_type="application/json",
    ),
    Case(
        "urlencoded body",
        415,
        "multipart/form-data",
        body=b"description=x&file=y",
        content_type="application/x-www-form-urlencoded",
    ),
    Case("no content type", 415, "multipart/form-data", body=b"hello"),
]

# A well-formed payload with a made-up signature.
FORGED = base64.urlsafe_b64encode(b'{"after": 1}').decode().rstrip("=") + ".AAAAAAAAAAAAAAAAAAAAAA"
FOREIGN = encode_cursor((1, 1), secret=b"another deployment")
READ_CASES = [
    Case("malformed id", 422, "valid UUID", method="GET", path=f"{IMAGES}not-a-uuid"),
    Case("malformed id on download", 422, "valid UUID", method="GET", path=f"{IMAGES}12345/file"),
    Case("SQL as id", 422, "valid UUID", method="GET", path=f"{IMAGES}1'%20OR%20'1'='1"),
    Case(
        "unknown id",
        404,
        "Image not found",
        method="GET",
        path=f"{IMAGES}6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a",
    ),
    Case(
        "unknown id on download",
        404,
        "Image not found",
        method="GET",
        path=f"{IMAGES}6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a/file",
    ),
    Case("garbage cursor", 400, "Invalid cursor", method="GET", path=f"{IMAGES}?cursor=abc"),
    Case(
        "SQL as cursor",
        400,
        "Invalid cursor",
        method="GET",
        path=f"{IMAGES}?cursor=1%27%3B%20DROP%20TABLE%20images%3B--",
    ),
    Case(
        "forged cursor",
        400,
        "Invalid cursor",
        method="GET",
        path=f"{IMAGES}?cursor={FORGED}",
    ),
    Case("foreign cursor", 400, "Invalid cursor", method="GET", path=f"{IMAGES}?cursor={FOREIGN}"),
    Case("overlong cursor", 422, "at most 512", method="GET", path=f"{IMAGES}?cursor={'a' * 600}"),
    *[
        Case(f"limit {v}", 422, "limit", method="GET", path=f"{IMAGES}?limit={v}")
        for v in ("0", "-1", "101", "abc", "1%20OR%201%3D1")
    ],
]


@pytest.fixture
def api(target: Target, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with layer_env(monkeypatch, MAX_UPLOAD_BYTES=str(LIMIT)):
        yield Api(target)


def detail_text(response_body: bytes) -> str:
    detail = json.loads(response_body)["detail"]
    return detail if isinstance(detail, str) else " ".join(f"{e['loc'][-1]}: {e['msg']}" for e in detail)


def send(api: Api, case: Case) -> tuple[int, str]:
    headers = dict(case.headers)
    if case.content_type:
        headers["content-type"] = case.content_type
    response = api.target.request(case.method, case.path, headers=headers, body=case.body)
    json_of(response)  # always a JSON body
    return response.status, detail_text(response.body)


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda c: c.name)
def test_bad_upload_is_refused_and_nothing_stored(api: Api, stores: Stores, case: Case) -> None:
    status, detail = send(api, case)
    assert (status, case.detail in detail) == (case.status, True), detail
    stores.assert_empty()


@pytest.mark.parametrize("case", READ_CASES, ids=lambda c: c.name)
def test_bad_read_is_refused_and_nothing_changes(api: Api, stores: Stores, case: Case) -> None:
    existing = api.upload_ok(PNG)
    status, detail = send(api, case)
    assert (status, case.detail in detail) == (case.status, True), detail
    assert [str(r["id"]) for r in stores.rows()] == [existing["id"]]
    assert len(stores.object_keys()) == 1


PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.png"  # "I want"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467.png"  # man ZWJ woman ZWJ girl
SANITISED = [
    ("../../etc/passwd.png", "passwd.png"),
    ("..\\..\\windows\\win.png", "win.png"),
    ("bell\x07and\x1bescape.png", "bellandescape.png"),
    ("evil\r\nSet-Cookie: a=b.png", "evil.png"),  # the CRLF ends the part header line
    ('quote"and<angle>.png', "quoteandangle.png"),
    ("zero\u200bwidth\u202eRTL.png", "zerowidthRTL.png"),
    (".hidden.png", "hidden.png"),
    ("", "image.png"),
    ("x" * 10_000 + ".png", "x" * 196 + ".png"),
    ("日" * 200 + ".png", "日" * 83 + ".png"),  # 255 bytes of UTF-8 at most: 84 would make 256
    ("日本の夕日.png", "日本の夕日.png"),
    (PERSIAN, PERSIAN),  # ZWNJ inside a word stays
    (FAMILY, FAMILY),  # ZWJ inside an emoji sequence stays
    ("\u200dedge\u200c.png", "edge.png"),  # joiners joining nothing go
    ("invoice\u202egnp.exe.png", "invoicegnp.exe.png"),  # RIGHT-TO-LEFT OVERRIDE
    ("a\u2066b\u2069c\u200fd\u061ce.png", "abcde.png"),  # isolates, RLM, Arabic letter mark
    ("soft\u00adhyphen\ufeff.png", "softhyphen.png"),
]


@pytest.mark.parametrize(("sent", "stored"), SANITISED, ids=[s[1][:20] for s in SANITISED])
def test_filenames_are_sanitised_and_safe_in_headers(api: Api, sent: str, stored: str) -> None:
    body, content_type = encode([DESC], [("file", "PLACEHOLDER", PNG, "image/png")])
    body = body.replace(b"PLACEHOLDER", sent.encode())
    response = api.target.request("POST", IMAGES, headers={"content-type": content_type}, body=body)
    assert response.status == 201, response.body
    image = json_of(response)
    assert image["filename"] == stored
    disposition = api.download(image["id"]).header("content-disposition") or ""
    assert "\r" not in disposition and "\n" not in disposition
    ascii_name = disposition.split('filename="')[1].split('"')[0]
    assert all(0x20 <= ord(c) < 0x7F for c in ascii_name) and "/" not in ascii_name
    from urllib.parse import unquote

    assert unquote(disposition.split("filename*=UTF-8''")[1]) == stored


@pytest.mark.parametrize(
    ("sent", "stored_chars"),
    [("\u0958" * 500, 1000), ("e\u0301" * 1000, 1000)],  # 500 -> 1,000 and 2,000 -> 1,000 after NFC
    ids=["expands to the limit", "composes to the limit"],
)
def test_the_description_limit_counts_what_is_stored(
    api: Api, stores: Stores, sent: str, stored_chars: int
) -> None:
    image = api.upload_ok(PNG, description=sent)
    assert image["description"] == unicodedata.normalize("NFC", sent)
    assert [len(r["description"]) for r in stores.rows()] == [stored_chars]


def test_sql_in_description_is_stored_as_text(api: Api, stores: Stores) -> None:
    text = "x'); DROP TABLE images; --"
    image = api.upload_ok(PNG, description=text)
    assert image["description"] == text
    assert [r["description"] for r in stores.rows()] == [text]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", IMAGES, "GET, HEAD, POST"),
        ("PUT", f"{IMAGES}6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a", "DELETE, GET, HEAD, PATCH"),
        ("POST", f"{IMAGES}6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a/file", "GET, HEAD"),
        ("POST", f"{IMAGES}6f1c7a52-8d1e-4c3b-9a57-3e2f1d0c9b8a", "DELETE, GET, HEAD, PATCH"),
        ("POST", "/", "GET, HEAD"),
    ],
)
@pytest.mark.parametrize("server", ["dev_server", "gateway_server"])
def test_unsupported_method_is_405_with_allow(
    request: pytest.FixtureRequest, server: str, stores: Stores, method: str, path: str, allow: str
) -> None:
    from tests.support.targets import HttpTarget

    response = HttpTarget(server, request.getfixturevalue(server)).request(method, path)
    assert response.status == 405
    assert response.header("allow") == allow
    assert json_of(response) == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize("server", ["dev_server", "gateway_server"])
@pytest.mark.parametrize("path", ["/index.html", "/api/v1/imagez/", "/api/v2/images/", f"{IMAGES}x/y/z"])
def test_unknown_route_is_404(request: pytest.FixtureRequest, server: str, path: str) -> None:
    from tests.support.targets import HttpTarget

    response = HttpTarget(server, request.getfixturevalue(server)).request("GET", path)
    assert response.status == 404
    assert json_of(response) == {"detail": "Not Found"}
