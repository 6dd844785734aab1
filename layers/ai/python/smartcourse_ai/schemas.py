"""Request and response bodies of the AI API (they also shape its OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from smartcourse.validation import CleanText, NonBlankText

from smartcourse_ai.domain import IndexStatus
from smartcourse_ai.providers.base import Difficulty, Mode

MAX_COURSE_FILTER = 100
CourseIds = Annotated[list[uuid.UUID], Field(max_length=MAX_COURSE_FILTER)]


class SearchRequest(BaseModel):
    # The existing client sends more fields than these; unknown fields are ignored, not refused.
    model_config = ConfigDict(extra="ignore")

    query: Annotated[NonBlankText, Field(min_length=1, max_length=500)]
    course_ids: CourseIds | None = None
    limit: Annotated[int, Field(ge=1, le=100, strict=True)] = 10
    similarity_threshold: Annotated[float, Field(ge=0, le=1, strict=True)] | None = Field(
        default=None, description="minimum relevance (0..1, the scale of `score`); default tuned on the "
                                  "evaluation set")


class SearchResult(BaseModel):
    chunk_id: uuid.UUID
    course_id: uuid.UUID
    asset_id: uuid.UUID
    content: str
    heading_path: str
    score: float = Field(description="relevance 0..1: vector similarity fused with full-text rank, calibrated")
    chunk_index: int


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    total_results: int
    search_time_ms: float


class AskRequest(BaseModel):
    # `provider` and `model_name` of the existing client are ignored: the deployment chooses the model.
    model_config = ConfigDict(extra="ignore")

    question: Annotated[NonBlankText, Field(min_length=1, max_length=2000)]
    course_ids: CourseIds | None = None
    mode: Mode = Mode.STUDENT


class Source(BaseModel):
    chunk_id: uuid.UUID
    course_id: uuid.UUID
    asset_id: uuid.UUID
    heading_path: str
    excerpt: str
    score: float


class AskResponse(BaseModel):
    answer: str
    sources: list[Source]
    confidence: float = Field(ge=0, le=1)
    model: str


class QuizRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_questions: Annotated[int, Field(ge=1, le=20, strict=True)] = 5
    difficulty: Difficulty = Difficulty.MEDIUM
    save: StrictBool = False
    module_id: uuid.UUID | None = Field(default=None, description="with `save: true`: the module to store it in")
    title: Annotated[CleanText, Field(min_length=1, max_length=255)] | None = None


class QuizQuestionOut(BaseModel):
    question: str
    options: list[str] = Field(min_length=4, max_length=4)
    answer_index: int = Field(ge=0, le=3)
    explanation: str
    source_chunk_ids: list[uuid.UUID]


class QuizResponse(BaseModel):
    course_id: uuid.UUID
    difficulty: Difficulty
    questions: list[QuizQuestionOut]
    model: str
    saved_asset_id: uuid.UUID | None = None


class SummaryResponse(BaseModel):
    course_id: uuid.UUID
    summary: str
    key_topics: list[str]
    estimated_minutes: int
    model: str
    generated_at: datetime


class Recommendation(BaseModel):
    course_id: uuid.UUID
    title: str
    reason: str
    score: float
    missing_prerequisite_ids: list[uuid.UUID] = Field(default_factory=list)


class RecommendationsResponse(BaseModel):
    items: list[Recommendation]


class ProcessingStatusResponse(BaseModel):
    course_id: uuid.UUID
    status: IndexStatus
    chunks: int
    embeddings: int
    assets_done: int
    assets_total: int
    last_error: str | None
    indexed_at: datetime | None
    embedding_model: str | None


class GenerateEmbeddingsResponse(BaseModel):
    status: str = "accepted"
    course_ids: list[uuid.UUID]
    force_regenerate: bool


class CourseSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat: StrictBool = True
    quiz: StrictBool = True
    summary: StrictBool = True


class CourseSettingsResponse(CourseSettingsBody):
    course_id: uuid.UUID


class GapGroup(BaseModel):
    question: str = Field(description="a representative question of the group")
    count: int
    examples: list[str]
    last_asked_at: datetime


class ContentGapsResponse(BaseModel):
    course_id: uuid.UUID
    groups: list[GapGroup]
    total_questions: int


class UsageMeResponse(BaseModel):
    month: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    quota_tokens: int
    remaining_tokens: int
    rate_limit_per_minute: int


class UsageRow(BaseModel):
    user_id: uuid.UUID
    course_id: uuid.UUID | None
    feature: str
    provider: str
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    estimated_cost: float


class UsageResponse(BaseModel):
    period_from: datetime
    period_to: datetime
    rows: list[UsageRow]
    totals: dict[str, Any]
