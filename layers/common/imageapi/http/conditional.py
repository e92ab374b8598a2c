"""RFC 9110 conditional and range requests for files whose ETag and size are known before the
bytes are fetched: If-None-Match (weak comparison, `*`), a single `Range` with `If-Range`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from imageapi.core.errors import ApiError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ApiError):
    status_code = 416


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int  # inclusive, as in Content-Range
    size: int  # of the whole file

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def none_match(header: str | None, etag: str) -> bool:
    """If-None-Match matches: `*`, or any listed tag equal to etag by weak comparison (W/ ignored)."""
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or _opaque(etag) in {_opaque(tag) for tag in tags if tag}


def requested_range(
    *, method: str, range_header: str | None, if_range: str | None, etag: str, size: int
) -> ByteRange | None:
    """The single byte range to send, or None for the whole file: no Range, a method other than
    GET, a Range this server ignores (several ranges, another unit, malformed), or an If-Range that
    names another version. Raises RangeNotSatisfiable when the range starts past the end."""
    if method != "GET" or range_header is None:
        return None
    if if_range is not None and if_range.strip() != etag:  # strong comparison; a date never matches
        return None
    match = _RANGE.match(range_header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        if int(last) == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(size - int(last), 0), size - 1, size)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 says
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, end, size)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"Range not satisfiable: the file has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
    )


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")
