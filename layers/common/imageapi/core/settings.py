"""Settings read from environment variables (see .env.example for each one)."""

import os
from functools import lru_cache
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MIN_TOKEN_CHARS = 16


class Settings(BaseModel):
    """Each field from the environment variable of its name in upper case (any case matches; an
    empty value counts as unset); values passed in win. A plain pydantic model: pydantic-settings
    would cost every cold start its import (dotenv, argparse, its cloud providers) for no more."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    database_url: SecretStr | None = None
    database_secret_arn: str | None = None
    database_pool_size: int = Field(default=0, ge=0)
    database_connect_timeout: int = Field(default=5, ge=1)
    # Bounds on a connection that stops answering; all well inside the functions' 20 s Timeout.
    database_statement_timeout_ms: int = Field(default=5000, ge=100)
    database_tcp_user_timeout_ms: int = Field(default=5000, ge=100)
    database_operation_timeout_ms: int = Field(default=8000, ge=100)
    database_secret_refresh_seconds: int = Field(default=30, ge=0)
    # After a failed INSERT or COMMIT: how long to keep asking, on fresh connections, whether
    # the row was written, before answering 503 and leaving the object for reconcile.
    database_outcome_check_seconds: float = Field(default=8, gt=0)
    # The server closes a session idle this long (PostgreSQL 14+): a connection left by a frozen
    # Lambda environment frees its slot. The layer reconnects by itself after such a pause.
    database_idle_session_timeout_ms: int = Field(default=60_000, ge=0)
    # "host" or "host:port" of RDS Proxy (or pgbouncer in transaction mode) in front of the
    # database: the API's connections go there, with no startup options and no prepared
    # statements (neither survives transaction pooling); the timeouts come from the role's
    # defaults, which migrate sets. Migrations connect to the database itself.
    database_proxy_endpoint: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")

    # Where no Lambda context says how long a request may run (the dev server): the complete
    # function's Timeout. S3 work stops in time for the database step that follows it.
    request_timeout_seconds: float = Field(default=29, gt=0)

    s3_bucket: str = "images"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_force_path_style: bool = False
    localstack_host: str | None = None
    # Streamed uploads: each goes up in parts of this size, this many at a time while the next
    # fills, so one upload holds about (1 + in flight) parts. S3 refuses parts under 5 MiB.
    s3_part_bytes: int = Field(default=5 * 1024 * 1024, ge=5 * 1024 * 1024, le=5 * 1024**3)
    s3_parts_in_flight: int = Field(default=1, ge=1, le=16)

    public_base_url: str | None = None
    api_base_path: str | None = Field(default=None, pattern=r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+/?$")
    trust_proxy_headers: bool = False
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=178_956_970, ge=1)
    # Upload sessions: the client PUTs straight to S3. At most 5 GiB, what one CopyObject moves.
    max_session_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1, le=5 * 1024**3)
    upload_session_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Sessions not completed yet that one bearer token (or, without API_TOKENS, one client
    # address) may hold at once; the next create gets 429. 0: no limit.
    max_pending_upload_sessions: int = Field(default=100, ge=0)
    # The largest JSON request body; a larger one gets 413 before the rest of it is read.
    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024, le=6 * 1024 * 1024)
    s3_public_endpoint_url: str | None = None  # the S3 address clients use, for presigned URLs
    download_redirect_bytes: int | None = Field(default=None, ge=0)  # None or 0: always proxy
    download_url_seconds: int = Field(default=300, ge=1, le=3600)
    thumbnail_max_pixels: int = Field(default=50_000_000, ge=1)
    # What the thumbnail function's renders may take together, estimated from the header before
    # decoding (formats/rendering.py): a render above it alone is a 422, and on the dev server
    # concurrent renders wait for each other to stay under it. 1 GiB beside the function's
    # ~110 MB at rest keeps the measured peaks inside its 1,769 MB (docs/thumbnails.md).
    thumbnail_max_decode_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024 * 1024)
    cursor_secret: SecretStr = SecretStr("imageapi-cursor")
    api_tokens: SecretStr | None = None
    # The gateway checks who calls (template.yaml's JWT authorizer): answers stay private.
    auth_at_gateway: bool = False
    log_level: str = "INFO"
    # Set: each access-log line also carries the request's metrics in CloudWatch's embedded
    # metric format, under this namespace (template.yaml sets it; locally it stays off).
    metrics_namespace: str | None = None
    # Reconcile stops without deleting when more than this share of keys would be deleted.
    reconcile_max_share: float = Field(default=0.01, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        environment = {name.lower(): value for name, value in os.environ.items() if value != ""}
        return {**{name: environment[name] for name in cls.model_fields if name in environment}, **data}

    @model_validator(mode="after")
    def _tokens_fail_closed(self) -> Self:
        """A set API_TOKENS that yields no usable token must not quietly mean "no auth"."""
        if self.api_tokens is None:
            return self
        tokens = self.token_list()
        if not tokens:
            raise ValueError("API_TOKENS is set but holds no token: unset it for no auth, or list tokens")
        if any(len(token.decode()) < MIN_TOKEN_CHARS for token in tokens):
            raise ValueError(f"API_TOKENS: every token must have at least {MIN_TOKEN_CHARS} characters")
        return self

    def token_list(self) -> list[bytes]:
        if self.api_tokens is None:
            return []
        raw = self.api_tokens.get_secret_value()
        return [t.strip().encode() for t in raw.split(",") if t.strip()]

    def base_path(self) -> str:
        """API_BASE_PATH as "/segment..." without a trailing slash; "" when unset."""
        return (self.api_base_path or "").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
