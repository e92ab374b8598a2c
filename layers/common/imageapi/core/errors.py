"""Errors the layer raises; the HTTP layer turns each into a JSON body {"detail": ...}."""


class ApiError(Exception):
    """An error with an HTTP status whose detail is safe to show to the client."""

    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ApiError):
    status_code = 400


class Unauthorized(ApiError):
    status_code = 401


class NotFound(ApiError):
    status_code = 404


class PayloadTooLarge(ApiError):
    status_code = 413


class UnsupportedMediaType(ApiError):
    status_code = 415


class Unprocessable(ApiError):
    status_code = 422


class ServiceUnavailable(ApiError):
    """A backing service (PostgreSQL or S3) cannot be reached; the client may retry."""

    status_code = 503
    retry_after_seconds = 5

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.retry_after_seconds)})


class DatabaseUnavailable(ServiceUnavailable):
    pass


class StorageUnavailable(ServiceUnavailable):
    pass


class TooManyRequests(ApiError):
    """A per-client limit is reached; Retry-After says when it may free up."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_seconds))})
