"""Request metrics in CloudWatch's embedded metric format (EMF).

The access-log line of each request carries them: on Lambda, CloudWatch Logs turns that line
into metric data points, so there is no agent, no client and no network call on the request's
path. The metrics are few and per function: 503s, refusals (4xx) and bytes of images stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

UNITS = {"Unavailable": "Count", "Refused": "Count", "UploadedBytes": "Bytes"}

_current: ContextVar[dict[str, float] | None] = ContextVar("metrics", default=None)


@contextmanager
def collecting() -> Iterator[dict[str, float]]:
    """The metrics one request observes. A dict, not a value per variable: code run in a
    thread pool gets a copy of the context, but the same dict."""
    values: dict[str, float] = {}
    token = _current.set(values)
    try:
        yield values
    finally:
        _current.reset(token)


def observe(name: str, value: float) -> None:
    """Adds to the current request's metric (nothing outside a request)."""
    assert name in UNITS, name
    values = _current.get()
    if values is not None:
        values[name] = values.get(name, 0) + value


def for_status(values: dict[str, float], status: int) -> dict[str, float]:
    """Every metric once per request, 0 where nothing happened, so that its sample count is the
    number of requests and Average is a rate."""
    return {
        "Unavailable": int(status == 503),
        "Refused": int(400 <= status < 500),
        "UploadedBytes": 0,
    } | values


def embedded(
    values: dict[str, float], *, namespace: str, function: str, timestamp_ms: int
) -> dict[str, object]:
    """The fields that make a JSON log line an EMF document, with `function` as the dimension."""
    names = [{"Name": name, "Unit": UNITS[name]} for name in values]
    directive = {"Namespace": namespace, "Dimensions": [["Function"]], "Metrics": names}
    return {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]},
        "Function": function,
        **values,
    }
