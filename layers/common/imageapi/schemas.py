"""Pydantic models of what the API receives and returns, and of stored rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DESCRIPTION_MAX_CHARS = 1000


class ImageRow(BaseModel):
    """One row of the images table."""

    id: uuid.UUID
    object_key: str
    description: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    created_at: datetime


class ImageCreate(BaseModel):
    """What an upload stores, once the object is in the bucket."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    object_key: str
    description: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None


class ImageUpload(BaseModel):
    """The multipart form of POST /api/v1/images/ (documented for OpenAPI)."""

    model_config = ConfigDict(extra="forbid")

    file: bytes = Field(description="JPEG, PNG, GIF or WebP image", json_schema_extra={"format": "binary"})
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX_CHARS)


class ImagePublic(BaseModel):
    id: uuid.UUID
    description: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    width: int | None
    height: int | None
    created_at: AwareDatetime
    download_url: str
    thumbnail_url: str = Field(description="The 256-pixel thumbnail; size= also takes 128, 512 and 1024")


class ImagesPublic(BaseModel):
    items: list[ImagePublic]
    limit: int
    next_cursor: str | None
    next: str | None


class ErrorBody(BaseModel):
    detail: str | list[dict[str, object]]


UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": ImageUpload.model_json_schema()}},
}
