"""Checks an image fed chunk by chunk: its type, dimensions, completeness, hidden markup and
SHA-256, without ever holding the whole file."""

from __future__ import annotations

import hashlib

from .errors import Unprocessable, UnsupportedMediaType
from .imaging import HEAD_BYTES, TAIL_BYTES, ImageInfo, accepted_type, inspect, sniff
from .markup import MarkupScanner


class ImageInspector:
    """Fed the file in order; finish() gives what the bytes are or raises the refusal."""

    def __init__(self) -> None:
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._head = bytearray()
        self._tail = b""
        self._markup = MarkupScanner()

    @property
    def content_type(self) -> str | None:
        """The sniffed type once 12 bytes are in, else None."""
        return sniff(bytes(self._head[:12])) if len(self._head) >= 12 else None

    def feed(self, chunk: bytes) -> None:
        """Raises 415 as soon as the first bytes are no accepted image."""
        known = len(self._head) >= 12
        self.size += len(chunk)
        self.sha256.update(chunk)
        self._markup.feed(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._tail = (self._tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
        if not known and len(self._head) >= 12:
            accepted_type(bytes(self._head[:12]))

    def finish(self, *, max_pixels: int) -> ImageInfo:
        if self.size == 0:
            raise Unprocessable("The file is empty")
        info = inspect(bytes(self._head), self._tail, self.size, max_pixels=max_pixels)
        if self._markup.found:
            raise UnsupportedMediaType("The file contains markup or script: polyglot files are refused")
        return info
