"""Request and response bodies of the analytics figures and the nudge (they also shape the OpenAPI document).

The reports routes' bodies live in ``report_schemas``. Responses are validated from ``figures``' dicts, so a
field here and a key there must agree (the integration tests compare them).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from smartcourse.validation import NonBlankText
from smartcourse_events.analytics import NUDGE_MESSAGE_MAX_LENGTH

from smartcourse_analytics.domain import EnrollmentStatus, RiskReason

MAX_NUDGE_RECIPIENTS = 100
Percent = Annotated[float, Field(ge=0, le=100, description="0..100, 2 decimals")]


class Period(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    period_from: date = Field(alias="from", description="first day (UTC), included")
    period_to: date = Field(alias="to", description="last day (UTC), included")


class EnrollmentCounts(BaseModel):
    total: int
    active: int
    completed: int
    dropped: int


class ActiveLearners(BaseModel):
    last_7_days: int = Field(description="learners with at least one progress event in the 7 days ending at `to`")
    last_30_days: int


class DayCount(BaseModel):
    date: date
    enrolled: int
    completed: int


class FunnelStep(BaseModel):
    module_id: uuid.UUID
    title: str
    order_index: int
    started: int = Field(description="learners with any progress on an asset of the module (all time)")
    completed: int = Field(description="learners with every asset of the module at 100 %")


class CourseAnalyticsResponse(BaseModel):
    course_id: uuid.UUID
    title: str
    period: Period
    enrollments: EnrollmentCounts = Field(description="enrollments whose enrolled_at falls in the period")
    completion_rate: float = Field(ge=0, le=1, description="completed ÷ all enrollments of the period "
                                                           "(dropped included); 0 when none")
    average_progress: Percent = Field(description="mean course percent of the period's enrollments")
    median_days_to_complete: float | None = Field(description="median of completed_at - enrolled_at in days over "
                                                              "the period's completed enrollments; null when none")
    active_learners: ActiveLearners
    enrollments_over_time: list[DayCount] = Field(description="every day of the period, zeros included")
    funnel: list[FunnelStep] = Field(description="every module of the course in order")


class LearnerRow(BaseModel):
    user_id: uuid.UUID
    full_name: str | None
    status: EnrollmentStatus
    percent_complete: Percent
    time_spent_seconds: int
    last_activity_at: datetime | None


class CourseAverage(BaseModel):
    percent_complete: Percent
    time_spent_seconds: int


class CourseLearnersResponse(BaseModel):
    items: list[LearnerRow] = Field(description="most recently active first (never active last), then by user id")
    course_average: CourseAverage = Field(description="over every enrollment of the course, dropped included")
    total: int
    limit: int
    offset: int


class RiskReasonOut(BaseModel):
    code: RiskReason
    detail: str


class LastNudge(BaseModel):
    sent_at: datetime
    returned_within_7_days: bool | None = Field(
        description="true: the learner progressed within 7 days; false: 7 days passed without; null: still open")


class AtRiskItem(BaseModel):
    user_id: uuid.UUID
    full_name: str | None
    percent_complete: Percent
    last_activity_at: datetime | None
    reasons: list[RiskReasonOut]
    last_nudge: LastNudge | None


class NudgeSummary(BaseModel):
    sent: int
    returned_within_7_days: int


class AtRiskResponse(BaseModel):
    items: list[AtRiskItem] = Field(description="least recently active first")
    nudges: NudgeSummary


def _unique(values: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a user id")
    return values


class NudgeRequest(BaseModel):
    # A misspelt field is an error, not a silently different nudge (the same for report requests).
    model_config = ConfigDict(extra="forbid")

    user_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_NUDGE_RECIPIENTS),
                        AfterValidator(_unique)]
    message: Annotated[NonBlankText, Field(min_length=1, max_length=NUDGE_MESSAGE_MAX_LENGTH)]


class Nudged(BaseModel):
    user_id: uuid.UUID
    nudge_id: uuid.UUID


class Skipped(BaseModel):
    user_id: uuid.UUID
    reason: Literal["not_enrolled", "already_nudged_today"]


class NudgeResponse(BaseModel):
    nudged: list[Nudged]
    skipped: list[Skipped]


class InstructorCourse(BaseModel):
    course_id: uuid.UUID
    title: str
    status: str
    enrollments: EnrollmentCounts
    completion_rate: float = Field(ge=0, le=1)
    average_progress: Percent
    active_learners: ActiveLearners
    at_risk: int = Field(description="learners at risk now")


class InstructorOverviewResponse(BaseModel):
    items: list[InstructorCourse] = Field(description="the caller's courses (all time), by title")


class MyCourse(BaseModel):
    course_id: uuid.UUID
    title: str | None
    status: EnrollmentStatus
    percent_complete: Percent
    time_spent_seconds: int
    last_activity_at: datetime | None
    percentile: int | None = Field(default=None, ge=0, le=100, description=(
        "share of the course's other learners below you (0..100); only in courses with at least 10 learners"))


class LearnerProgressResponse(BaseModel):
    enrolled: int = Field(description="enrollments not dropped")
    completed: int
    time_spent_seconds: int
    streak_days: int = Field(description="consecutive days with activity ending today or yesterday (UTC)")
    courses: list[MyCourse]


class UserCounts(BaseModel):
    total: int = Field(description="registered users")
    by_role: dict[str, int]


class TopCourse(BaseModel):
    course_id: uuid.UUID
    title: str | None
    enrollments: int = Field(description="enrollments in the period (daily sums)")
    completions: int = Field(description="completions in the period (daily sums)")
    completion_rate: float = Field(ge=0, le=1, description="as in the course's analytics for the same period")


class PlatformResponse(BaseModel):
    period: Period
    users: UserCounts
    dau: int = Field(description="users active on `to`")
    wau: int = Field(description="users active in the 7 days ending at `to`")
    mau: int = Field(description="users active in the 30 days ending at `to`")
    enrollments_over_time: list[DayCount] = Field(description="enrollments and completions per day, all courses")
    top_courses: list[TopCourse] = Field(description="up to 10, by enrollments in the period")


# --- query parameters -------------------------------------------------------------------------------------------

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    # Only YYYY-MM-DD: pydantic alone would also take a timestamp or a datetime string as a date.
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
PeriodFrom = Annotated[Day | None, Query(alias="from", description="first day (UTC, YYYY-MM-DD); default: the "
                                                                    "first day with enrollments")]
PeriodTo = Annotated[Day | None, Query(alias="to", description="last day (UTC, YYYY-MM-DD), included; default: "
                                                                "today")]
