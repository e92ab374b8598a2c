"""How long a request may still run: on Lambda, what the function's context says remains of its
Timeout; elsewhere (the dev server), REQUEST_TIMEOUT_SECONDS from the request's start. Work with
a budget of its own (S3 transfers) stops in time for the database step that follows it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

from imageapi.core.settings import Settings


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() when the request must have answered

    @classmethod
    def of(cls, request: Request, settings: Settings) -> Deadline:
        context = request.scope.get("aws.context")  # set by Mangum
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining() / 1000 if callable(remaining) else settings.request_timeout_seconds
        return cls(time.monotonic() + seconds)

    def remaining(self, *, keep: float = 0) -> float:
        """Seconds left, less keep (held back for what comes after); never below zero."""
        return max(0.0, self.at - time.monotonic() - keep)

    def passed(self, *, keep: float = 0) -> bool:
        return self.remaining(keep=keep) <= 0
