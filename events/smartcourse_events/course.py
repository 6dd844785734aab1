"""Events about courses (topic ``smartcourse.course-events``).

The LMS emits the lifecycle events; the AI service answers ``course.published``
with ``course.processing_completed`` or ``course.processing_failed`` once it
has (or has not) indexed the course. All are keyed by ``course_id``.

``course.published`` carries what the AI service needs to index the course
without calling back: ids, titles, the description and, per asset, its type,
its external ``source_url`` (links, videos, ...) and, for articles, the S3
``content_key`` of the editor document, its ``description``, and the ids of the
course's prerequisite courses at publish time. No presigned URLs travel in
events: they would expire while the event sits in a topic or a DLQ.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from smartcourse_events.base import EventPayload
from smartcourse_events.topics import COURSE_EVENTS

# The LMS's limit on descriptions (smartcourse_lms.courses.schemas.DESCRIPTION_MAX_LENGTH; the event
# contract may not import a service, a test keeps the two equal).
ASSET_DESCRIPTION_MAX_LENGTH = 20_000

AssetType = Literal["video", "pdf", "article", "link", "quiz", "document", "other"]


class _CourseEvent(EventPayload):
    topic: ClassVar[str] = COURSE_EVENTS
    aggregate_type: ClassVar[str] = "course"

    course_id: uuid.UUID


class PublishedAsset(BaseModel):
    """One asset of a published course, as the AI service sees it."""

    # Same read-side tolerance as a payload; build_event rejects unknown nested fields for producers.
    model_config = ConfigDict(extra="ignore", frozen=True)

    asset_id: uuid.UUID
    title: str = Field(min_length=1, max_length=1000)
    asset_type: AssetType
    source_url: str | None = Field(default=None, max_length=2048)
    content_key: str | None = Field(default=None, max_length=1024,
                                    description="S3 key of the article's editor document; null for other assets")
    # Added field (version stays 1): events published before it carry none. The limit is the LMS's.
    description: str | None = Field(default=None, max_length=ASSET_DESCRIPTION_MAX_LENGTH,
                                    description="the asset's description as staff wrote it")


class PublishedModule(BaseModel):
    """One module of a published course, its assets in order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    module_id: uuid.UUID
    title: str = Field(min_length=1, max_length=1000)
    assets: list[PublishedAsset] = Field(min_length=1)


class CourseCreatedV1(_CourseEvent):
    event_type: ClassVar[str] = "course.created"
    event_version: ClassVar[int] = 1

    instructor_id: uuid.UUID
    title: str = Field(min_length=1, max_length=300)


class CoursePublishedV1(_CourseEvent):
    event_type: ClassVar[str] = "course.published"
    event_version: ClassVar[int] = 1

    instructor_id: uuid.UUID
    title: str = Field(min_length=1, max_length=300)
    description: str | None = None
    published_at: AwareDatetime
    modules: list[PublishedModule] = Field(min_length=1)
    # Added field (version stays 1): events published before it carry none, and read as an empty list.
    prerequisite_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="ids of the course's prerequisite courses at publish time (each must be completed "
                    "before enrolling)")


class CourseArchivedV1(_CourseEvent):
    event_type: ClassVar[str] = "course.archived"
    event_version: ClassVar[int] = 1


class CourseProcessingCompletedV1(_CourseEvent):
    event_type: ClassVar[str] = "course.processing_completed"
    event_version: ClassVar[int] = 1

    chunks: int = Field(ge=0, description="text chunks indexed")
    embeddings: int = Field(ge=0, description="embeddings stored")
    summary_ready: bool


class CourseProcessingFailedV1(_CourseEvent):
    event_type: ClassVar[str] = "course.processing_failed"
    event_version: ClassVar[int] = 1

    error: str = Field(min_length=1, max_length=4000, description="what went wrong, for staff; no stack traces")
