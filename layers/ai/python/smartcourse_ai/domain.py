"""The AI service's vocabularies and small rules (pure: no I/O).

The statuses are the one source of the database's CHECK constraints and of the API's enums.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from smartcourse.principal import Principal

# all-MiniLM-L6-v2's width; a configured OpenAI-compatible embedder is asked for vectors of the same size.
EMBEDDING_DIMENSIONS = 384


class CourseStatus(StrEnum):
    PUBLISHED = "published"
    ARCHIVED = "archived"


class IndexStatus(StrEnum):
    NOT_INDEXED = "not_indexed"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class AssetIndexStatus(StrEnum):
    PENDING = "pending"
    INDEXED = "indexed"
    UNCHANGED = "unchanged"  # same content hash and model as the last run: nothing re-embedded
    FAILED = "failed"


class Feature(StrEnum):
    """What a model call served (usage accounting, per-course switches)."""

    SEARCH = "search"
    ASK = "ask"
    QUIZ = "quiz"
    SUMMARY = "summary"
    INDEXING = "indexing"


class CourseFeature(StrEnum):
    """The per-course switches of ``/ai/courses/{id}/settings``."""

    CHAT = "chat"
    QUIZ = "quiz"
    SUMMARY = "summary"


def is_course_staff(instructor_id: uuid.UUID, caller: Principal) -> bool:
    """The LMS's staff rule, applied to the AI's projection: the course's instructor or an admin."""
    return caller.is_admin or caller.user_id == instructor_id


def chunk_id(asset_id: uuid.UUID, content_hash: str, model: str, index: int) -> uuid.UUID:
    """Deterministic: indexing the same content with the same model again yields the same chunk ids."""
    return uuid.uuid5(asset_id, f"{content_hash}:{model}:{index}")


WORDS_PER_MINUTE = 200  # reading speed for articles
MINUTES_PER_MEDIA_ASSET = 10  # videos, PDFs, links: the event does not carry their length


def estimated_minutes(article_words: int, media_assets: int) -> int:
    minutes = article_words / WORDS_PER_MINUTE + media_assets * MINUTES_PER_MEDIA_ASSET
    return max(1, round(minutes))
