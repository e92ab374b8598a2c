"""Structured JSON logs, one object per line, each carrying the request id."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str] = ContextVar("request_id", default="-")
# What the access-log line adds about its request (the error's reason). A dict, so that a
# handler run in a thread pool, under a copy of the context, still fills the request's own.
request_fields: ContextVar[dict[str, object] | None] = ContextVar("request_fields", default=None)

_configured = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def note(**fields: object) -> None:
    """Adds fields to the current request's access-log line (nothing outside a request)."""
    current = request_fields.get()
    if current is not None:
        current.update(fields)


def configure_logging(level: str = "INFO") -> None:
    """Routes the package's logs to stdout as JSON (CloudWatch on Lambda); idempotent."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("imageapi")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    _configured = True
