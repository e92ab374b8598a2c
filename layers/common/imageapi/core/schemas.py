"""Pydantic models of what the API receives and returns, and of stored rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

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
    width: int | None  # None only in rows stored before dimensions were required
    height: int | None
    orientation: int | None
    created_at: datetime
    version: int = 1  # one more on each edit: the metadata's ETag (migration 0008)
    updated_at: datetime | None = None  # the last edit; None: never edited

    @property
    def last_modified(self) -> datetime:
        return self.updated_at or self.created_at


class ListedImageRow(ImageRow):
    """A row as the listing reads it: with its place in the listing, which cursors carry."""

    txid: int  # the transaction that wrote it (0: before migration 0006)
    commit_seq: int

    @property
    def position(self) -> tuple[int, int]:
        return self.txid, self.commit_seq


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
    width: int
    height: int
    orientation: int | None


class ImageUpload(BaseModel):
    """The multipart form of POST /api/v1/images/ (documented for OpenAPI)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    file: bytes = Field(
        description="JPEG, PNG, GIF, WebP, AVIF or HEIC/HEIF image", json_schema_extra={"format": "binary"}
    )
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX_CHARS)


_SIZE = "Stored pixel {}, read from the header (null only for images stored before it was required)"
_ORIENTATION = (
    "EXIF orientation (1-8) that shows the stored pixels upright (5-8 swap width and height); for"
    " HEIF and AVIF the primary item's irot and imir as such a value; null where the file has none"
)


class ImagePublic(BaseModel):
    id: uuid.UUID
    description: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    width: int | None = Field(description=_SIZE.format("width"))
    height: int | None = Field(description=_SIZE.format("height"))
    orientation: int | None = Field(ge=1, le=8, description=_ORIENTATION)
    created_at: AwareDatetime
    download_url: str
    thumbnail_url: str = Field(description="The 256-pixel thumbnail; size= also takes 128, 512 and 1024")


class ImagesPublic(BaseModel):
    items: list[ImagePublic]
    limit: int
    next_cursor: str | None
    next: str | None


class ImageUpdate(BaseModel):
    """The JSON body of PATCH /api/v1/images/{id}: strict, so a number or null is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX_CHARS)


class UploadSessionCreate(BaseModel):
    """The JSON body of POST /api/v1/uploads. Strict: JSON types as they are ("5", 5.0 and true
    are not integers)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX_CHARS)
    filename: str = Field(
        min_length=1, description="Cut to 255 bytes of UTF-8, as every file name the API stores"
    )
    size_bytes: int = Field(gt=0, description="The file's exact length: the upload URL signs it")
    sha256: str | None = Field(
        default=None, pattern="^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the file: the store checks it"
    )
    content_type: str | None = Field(
        default=None, description="image/jpeg, image/png, image/gif or image/webp; the bytes decide the type"
    )


class UploadRequest(BaseModel):
    """What the client sends to the object store: exactly this method, URL and headers."""

    method: Literal["PUT"]
    url: str
    headers: dict[str, str]


class UploadSessionPublic(BaseModel):
    upload_id: uuid.UUID
    expires_at: AwareDatetime
    upload: UploadRequest
    complete_url: str


class UploadSessionRow(BaseModel):
    """One row of the upload_sessions table."""

    id: uuid.UUID
    image_id: uuid.UUID
    incoming_key: str
    description: str
    filename: str
    size_bytes: int
    sha256: str | None
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    state: str = "open"  # open, completing (a complete holds the lease), completed
    lease_owner: uuid.UUID | None = None
    lease_expires_at: datetime | None = None
    owner_key: str | None = None  # whom it counts against (migration 0009); None before it


class ErrorBody(BaseModel):
    detail: str | list[dict[str, object]]


UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": ImageUpload.model_json_schema()}},
}
