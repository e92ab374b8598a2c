"""RFC 9110 conditional and range requests for resources whose ETag, last change and size are
known before the bytes are fetched: If-Match (strong comparison, `*`) and If-Unmodified-Since
(412), If-None-Match (weak comparison, `*`), a single `Range` with `If-Range`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from imageapi.core.errors import ApiError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$", re.IGNORECASE)  # range units are case-insensitive


class RangeNotSatisfiable(ApiError):
    status_code = 416


class PreconditionFailed(ApiError):
    status_code = 412


def check_preconditions(
    *, if_match: str | None, if_unmodified_since: str | None, etag: str, last_modified: datetime
) -> None:
    """RFC 9110 section 13.2.2, steps 1 and 2: If-Match when sent, else If-Unmodified-Since;
    raises PreconditionFailed (412) when the one evaluated is false."""
    if if_match is not None:
        if not strong_match(if_match, etag):
            raise PreconditionFailed("Precondition failed: If-Match does not name the current ETag")
        return
    since = http_date(if_unmodified_since)
    if since is not None and _whole_seconds(last_modified) > since:
        raise PreconditionFailed("Precondition failed: modified since If-Unmodified-Since")


def strong_match(header: str, etag: str) -> bool:
    """If-Match matches: `*` (the resource exists), or a listed tag equal to etag by strong
    comparison: a weak tag (W/) never matches."""
    tags = entity_tags(header)
    return tags is None or etag in tags


def entity_tags(header: str) -> list[str] | None:
    """The strong tags of an If-Match header as sent (quotes kept); None for `*`."""
    tags = [tag.strip() for tag in header.split(",")]
    if "*" in tags:
        return None
    return [tag for tag in tags if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2]


def http_date(value: str | None) -> datetime | None:
    """An HTTP-date as an aware datetime; None when absent or not a valid date (then the
    header is ignored, as RFC 9110 says)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_http_date(moment: datetime) -> str:
    """Last-Modified's form: IMF-fixdate, whole seconds."""
    return format_datetime(_whole_seconds(moment), usegmt=True)


def _whole_seconds(moment: datetime) -> datetime:
    """HTTP dates have no fractions: a change is compared by the second it was made in."""
    return moment.astimezone(UTC).replace(microsecond=0)


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
