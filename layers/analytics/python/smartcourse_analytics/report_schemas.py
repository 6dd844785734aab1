"""Request and response bodies of the three report routes (they also shape the analytics OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartcourse_analytics.domain import ReportFormat, ReportStatus, ReportType
from smartcourse_analytics.metrics import MAX_DATE, MIN_DATE

Day = Annotated[date, Field(ge=MIN_DATE, le=MAX_DATE)]


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: ReportType
    course_id: uuid.UUID | None = Field(default=None, description="required for, and only for, a course report")
    period_from: Day | None = Field(default=None, alias="from",
                                    description="first day (UTC) of the period; default: 29 days before `to`")
    period_to: Day | None = Field(default=None, alias="to", description="last day (UTC); default: today")
    format: ReportFormat = ReportFormat.HTML

    @model_validator(mode="after")
    def _consistent(self) -> ReportRequest:
        if self.type == ReportType.COURSE and self.course_id is None:
            raise ValueError("course_id is required for a course report")
        if self.type != ReportType.COURSE and self.course_id is not None:
            raise ValueError(f"course_id is only for course reports, not {self.type.value} reports")
        # The span is checked once the missing end is filled in (reports.check_period).
        if self.period_from is not None and self.period_to is not None and self.period_from > self.period_to:
            raise ValueError("'from' must not be after 'to'")
        return self


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    status: ReportStatus


class ReportPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")


class ReportView(BaseModel):
    report_id: uuid.UUID
    type: ReportType
    format: ReportFormat
    course_id: uuid.UUID | None = None
    period: ReportPeriod
    scheduled: bool = Field(description="built by a schedule (weekly digest, daily platform report)")
    status: ReportStatus
    created_at: datetime
    ready_at: datetime | None = None
    error: str | None = Field(default=None, description="why the report failed (status failed)")
    download_url: str | None = Field(default=None, description="presigned GET of the report (status ready); "
                                                               "a fresh one on every request, valid minutes")


class ReportList(BaseModel):
    items: list[ReportView]
    total: int
    limit: int
    offset: int
