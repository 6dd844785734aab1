"""Request and response bodies of the Enrollments, Progress and Certificates APIs (they shape the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from smartcourse_lms.learning.enrollments import EnrollmentStatus

# Annotations only: the repositories import SQLAlchemy, which a handler's init must not pay for.
if TYPE_CHECKING:
    from smartcourse_lms.enrollments.repository import AssetProgressRecord, CertificateRecord, EnrollmentRecord
    from smartcourse_lms.enrollments.service import CourseProgress, EnrollmentView, ProgressResult


# strict: a JSON boolean is not a number (an integer still is a float).
Percent = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]
MAX_TIME_SPENT_SECONDS = 10 * 365 * 24 * 3600  # one report; far below the column's range when accumulated


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    course_id: uuid.UUID
    user_id: uuid.UUID | None = Field(default=None, description="course staff / admin only: the learner to enroll")
    source: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="how the enrollment came about (default: self, or staff)")


class EnrollmentUpdateRequest(BaseModel):
    """PUT and PATCH alike: the status (learner: active ↔ dropped; admin: any)."""

    model_config = ConfigDict(extra="forbid")

    status: EnrollmentStatus


class EnrollmentOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    status: EnrollmentStatus
    source: str | None
    enrolled_at: datetime
    completed_at: datetime | None
    dropped_at: datetime | None
    course_title: str | None = None
    progress_percent: float | None = Field(default=None, description="course progress, 0-100, 2 decimals")

    @classmethod
    def of(cls, enrollment: EnrollmentRecord) -> EnrollmentOut:
        return cls.model_validate(enrollment.__dict__)

    @classmethod
    def of_view(cls, view: EnrollmentView) -> EnrollmentOut:
        return cls.model_validate({**view.enrollment.__dict__, "course_title": view.course_title,
                                   "progress_percent": view.percent_complete})


class EnrollmentPageOut(BaseModel):
    items: list[EnrollmentOut]
    total: int
    limit: int
    offset: int


class ProgressRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enrollment_id: uuid.UUID | None = Field(default=None, description="default: the caller's enrollment in the "
                                                                      "asset's course")
    progress_percent: Percent | None = Field(default=None, description="0-100 (synonym: percent_complete)")
    is_completed: StrictBool = Field(default=False, description="true means 100")
    time_spent_seconds: Annotated[int, Field(strict=True, ge=0, le=MAX_TIME_SPENT_SECONDS)] = 0

    @model_validator(mode="before")
    @classmethod
    def _synonym(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("progress_percent") is None and "percent_complete" in data:
            return {**data, "progress_percent": data["percent_complete"]}
        return data


class AssetProgressOut(BaseModel):
    enrollment_id: uuid.UUID
    asset_id: uuid.UUID
    progress_percent: float
    is_completed: bool
    time_spent_seconds: int
    completed_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, p: AssetProgressRecord) -> AssetProgressOut:
        return cls(enrollment_id=p.enrollment_id, asset_id=p.asset_id, progress_percent=p.progress_percent,
                   is_completed=p.progress_percent >= 100, time_spent_seconds=p.time_spent_seconds,
                   completed_at=p.completed_at, updated_at=p.updated_at)


class CourseProgressBrief(BaseModel):
    percent_complete: float
    completed_assets: int
    total_assets: int


class ProgressUpdateOut(BaseModel):
    asset_progress: AssetProgressOut
    course_progress: CourseProgressBrief
    enrollment_status: EnrollmentStatus
    completed_at: datetime | None = Field(description="when the enrollment was completed")
    certificate_id: uuid.UUID | None = Field(description="set when this update completed the course")

    @classmethod
    def of(cls, result: ProgressResult) -> ProgressUpdateOut:
        s = result.course
        return cls(asset_progress=AssetProgressOut.of(result.asset),
                   course_progress=CourseProgressBrief(percent_complete=s.percent_complete,
                                                       completed_assets=s.completed_assets,
                                                       total_assets=s.total_assets),
                   enrollment_status=result.enrollment.status,  # type: ignore[arg-type]
                   completed_at=result.enrollment.completed_at,
                   certificate_id=result.certificate.id if result.certificate else None)


class ModuleProgressOut(BaseModel):
    module_id: uuid.UUID
    title: str
    percent_complete: float


class AssetProgressBrief(BaseModel):
    asset_id: uuid.UUID
    progress_percent: float
    completed_at: datetime | None


class CourseProgressOut(BaseModel):
    enrollment_id: uuid.UUID
    course_id: uuid.UUID
    percent_complete: float
    completed_assets: int
    total_assets: int
    time_spent_seconds: int
    started_at: datetime = Field(description="when the learner enrolled")
    completed_at: datetime | None
    modules: list[ModuleProgressOut]
    assets: list[AssetProgressBrief]

    @classmethod
    def of(cls, p: CourseProgress) -> CourseProgressOut:
        e, s = p.enrollment, p.summary
        return cls(enrollment_id=e.id, course_id=e.course_id, percent_complete=s.percent_complete,
                   completed_assets=s.completed_assets, total_assets=s.total_assets,
                   time_spent_seconds=p.time_spent_seconds, started_at=e.enrolled_at, completed_at=e.completed_at,
                   modules=[ModuleProgressOut(module_id=m.module_id, title=m.title, percent_complete=m.percent_complete)
                            for m in p.modules],
                   assets=[AssetProgressBrief(asset_id=a.asset_id, progress_percent=a.progress_percent,
                                              completed_at=a.completed_at) for a in p.assets])


class CertificateOut(BaseModel):
    id: uuid.UUID
    serial_no: str
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    course_title: str
    learner_name: str | None
    issued_at: datetime
    certificate_url: str | None = Field(description="presigned GET of the rendered HTML certificate")

    @classmethod
    def of(cls, c: CertificateRecord, url: str | None) -> CertificateOut:
        return cls(id=c.id, serial_no=c.serial_no, enrollment_id=c.enrollment_id, user_id=c.user_id,
                   course_id=c.course_id, course_title=c.course_title, learner_name=c.learner_name,
                   issued_at=c.issued_at, certificate_url=url)


class CertificatePageOut(BaseModel):
    items: list[CertificateOut]
    total: int
    limit: int
    offset: int


class CertificateVerificationOut(BaseModel):
    valid: bool
    serial_no: str
    learner_name: str | None
    course_title: str
    issued_at: datetime
