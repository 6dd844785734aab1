"""Request and response bodies of the Learning assets API (they also shape the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from smartcourse_lms.courses.schemas import Description, OrderIndex, Title
from smartcourse_lms.learning.courses import AssetStatus, AssetType

# Annotations only: the repositories import SQLAlchemy, which a handler's init must not pay for.
if TYPE_CHECKING:
    from smartcourse_lms.assets.repository import AssetRecord


SOURCE_URL_MAX_LENGTH = 2048
DURATION_LIMIT = 10 * 365 * 24 * 3600  # far above any real asset, far below the column's range
CONTENT_TYPE_MAX_LENGTH = 255

SourceUrl = Annotated[str, Field(min_length=1, max_length=SOURCE_URL_MAX_LENGTH)]
Duration = Annotated[int, Field(strict=True, ge=0, le=DURATION_LIMIT)]


class AssetCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    module_id: uuid.UUID
    title: Title
    description: Description | None = None
    asset_type: AssetType
    source_url: SourceUrl | None = None
    order_index: OrderIndex | None = Field(default=None, description="default: after the module's last asset")
    duration_seconds: Duration | None = None


class AssetUpdateRequest(BaseModel):
    """Partial update (PUT and PATCH alike). ``status`` and content fields are not writable here (422)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    asset_type: AssetType | None = None
    source_url: SourceUrl | None = None
    order_index: OrderIndex | None = None
    duration_seconds: Duration | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AssetOut(BaseModel):
    id: uuid.UUID
    module_id: uuid.UUID
    title: str
    description: str | None
    asset_type: AssetType
    source_url: str | None
    order_index: int
    duration_seconds: int | None
    status: AssetStatus
    size_bytes: int | None
    content_hash: str | None = Field(description="SHA-256 (hex) of the article content")
    content_version: int = Field(description="incremented by every accepted article upload")
    validation_error: str | None
    created_at: datetime
    updated_at: datetime
    content_url: str | None = Field(
        default=None,
        description="ready articles, for course staff and enrolled students: a presigned GET of the content")

    @classmethod
    def of(cls, asset: AssetRecord, content_url: str | None = None) -> AssetOut:
        return cls.model_validate({**asset.__dict__, "content_url": content_url})


class AssetPageOut(BaseModel):
    items: list[AssetOut]
    total: int
    limit: int
    offset: int


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content_type: Annotated[str, Field(min_length=1, max_length=CONTENT_TYPE_MAX_LENGTH,
                                       description="application/json")]
    size_bytes: Annotated[int, Field(strict=True, ge=1, description="exact size of the upload; at most 2 MiB")]


class UploadUrlOut(BaseModel):
    asset_id: uuid.UUID
    upload_url: str
    expires_in: int
    required_headers: dict[str, str] = Field(description="headers the PUT must carry exactly (signed)")


class ContentOut(BaseModel):
    id: uuid.UUID
    title: str
    asset_type: AssetType
    content_url: str
    expires_in: int | None = Field(description="seconds the presigned URL stays valid; null for a source_url")
