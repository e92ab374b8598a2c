"""Settings read from environment variables (see .env.example for each one)."""

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, env_ignore_empty=True)

    database_url: SecretStr | None = None
    database_secret_arn: str | None = None
    database_pool_size: int = Field(default=0, ge=0)
    database_connect_timeout: int = Field(default=5, ge=1)

    s3_bucket: str = "images"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_force_path_style: bool = False
    localstack_host: str | None = None

    public_base_url: str | None = None
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=178_956_970, ge=1)
    thumbnail_max_pixels: int = Field(default=50_000_000, ge=1)
    cursor_secret: SecretStr = SecretStr("imageapi-cursor")
    api_tokens: SecretStr | None = None
    log_level: str = "INFO"

    def token_list(self) -> list[bytes]:
        if self.api_tokens is None:
            return []
        raw = self.api_tokens.get_secret_value()
        return [t.strip().encode() for t in raw.split(",") if t.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
