"""Builds multipart/form-data bodies by hand, so tests control every byte (malformed ones too)."""

from __future__ import annotations

BOUNDARY = "----imageapi-test-boundary"


def encode(
    fields: list[tuple[str, str | bytes]] = (),  # type: ignore[assignment]
    files: list[tuple[str, str, bytes, str]] = (),  # type: ignore[assignment]
    *,
    boundary: str = BOUNDARY,
) -> tuple[bytes, str]:
    """(body, content type) for text fields (name, value) and files (name, filename, data, type)."""
    out = bytearray()
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += data + b"\r\n"
    for name, filename, data, content_type in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def upload_body(
    data: bytes,
    *,
    description: str = "A test image",
    filename: str = "photo.png",
    content_type: str = "image/png",
) -> tuple[bytes, str]:
    return encode([("description", description)], [("file", filename, data, content_type)])
