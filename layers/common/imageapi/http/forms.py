"""Reads an upload's multipart body as it arrives: limits act on the first byte too many, each
file's bytes go to a sink (the object store) as they come, and the file's size, SHA-256, first
and last bytes and any markup are known once it ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from imageapi.core.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from imageapi.formats.inspection import ImageInspector

FIELD_MAX_BYTES = 16 * 1024  # 1000 characters of up to 4 UTF-8 bytes, with room to spare
FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers, the description
MAX_PARTS = 8
HEADER_MAX_BYTES = 32 * 1024  # room for a 10,000-character filename


class FileSink(Protocol):
    """Where a file part's bytes go while the body is still arriving."""

    def write(self, chunk: bytes) -> None: ...  # must not block

    async def drain(self) -> None: ...  # waits until the sink has room again

    def discard(self) -> None: ...  # blocking: drop everything written


class DiscardingSink:
    """For file parts that will be refused anyway (a second file, an unknown field)."""

    def write(self, chunk: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def discard(self) -> None:
        pass


@dataclass
class FilePart:
    filename: str
    sink: FileSink = field(default_factory=DiscardingSink)
    inspector: ImageInspector = field(default_factory=ImageInspector)

    @property
    def size(self) -> int:
        return self.inspector.size

    def add(self, chunk: bytes) -> None:
        self.inspector.feed(chunk)  # size, SHA-256, type, end, dimensions, markup: one pass
        self.sink.write(chunk)


@dataclass
class _Part:
    name: str = ""
    data: bytearray = field(default_factory=bytearray)
    file: FilePart | None = None


@dataclass
class UploadForm:
    fields: dict[str, list[bytes]]
    files: dict[str, list[FilePart]]

    def parts(self) -> list[FilePart]:
        return [part for parts in self.files.values() for part in parts]

    def discard(self) -> None:
        """Drops what every sink received (blocking)."""
        for part in self.parts():
            part.sink.discard()


SinkOpener = Callable[[str, FilePart], FileSink]  # (field name, part) -> where its bytes go


class _Collector:
    def __init__(self, max_file_bytes: int, open_sink: SinkOpener) -> None:
        self.max_file_bytes = max_file_bytes
        self.open_sink = open_sink
        self.form = UploadForm(fields={}, files={})
        self.part = _Part()
        self.parts = 0
        self.ended = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadRequest(f"Too many form parts (at most {MAX_PARTS})")
        self.part = _Part()
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise BadRequest("Each form part needs a Content-Disposition: form-data header with a name")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            # The part's Content-Type is not read: the type comes from the bytes.
            self.part.file = FilePart(filename=options[b"filename"].decode("utf-8", "replace"))
            self.part.file.sink = self.open_sink(self.part.name, self.part.file)
            self.form.files.setdefault(self.part.name, []).append(self.part.file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.file is not None:
            if self.part.file.size + len(chunk) > self.max_file_bytes:
                raise PayloadTooLarge(f"The file is larger than {self.max_file_bytes} bytes")
            self.part.file.add(chunk)
        else:
            if len(self.part.data) + len(chunk) > FIELD_MAX_BYTES:
                raise Unprocessable(f"Form field '{self.part.name}' is too long")
            self.part.data += chunk

    def on_part_end(self) -> None:
        if self.part.file is None:
            self.form.fields.setdefault(self.part.name, []).append(bytes(self.part.data))

    def on_end(self) -> None:
        self.ended = True


async def read_upload_form(request: Request, *, max_file_bytes: int, open_sink: SinkOpener) -> UploadForm:
    """Parses multipart/form-data from the request stream. On any failure, including the client
    going away, every sink is discarded before the error propagates."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("Send the upload as multipart/form-data")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart/form-data content type has no boundary")
    collector = _Collector(max_file_bytes, open_sink)
    parser = MultipartParser(
        boundary,
        collector.callbacks(),  # type: ignore[arg-type]
        max_header_size=HEADER_MAX_BYTES,
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_file_bytes + FORM_OVERHEAD_BYTES:
                raise PayloadTooLarge(f"The file is larger than {max_file_bytes} bytes")
            parser.write(chunk)
            for part in collector.form.parts():
                await part.sink.drain()
        parser.finalize()
        if not collector.ended:
            raise BadRequest("Malformed multipart body: it ends before its closing boundary")
    except BaseException as exc:  # a client that went away, a limit, a store failing: keep nothing
        await run_in_threadpool(collector.form.discard)
        if isinstance(exc, MultipartParseError):
            raise BadRequest("Malformed multipart body") from exc
        raise
    return collector.form
