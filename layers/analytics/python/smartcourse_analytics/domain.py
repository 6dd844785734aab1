"""The analytics vocabulary: enrollment states, report kinds and states, at-risk reasons. No I/O."""

from __future__ import annotations

from enum import StrEnum


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    DROPPED = "dropped"


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ReportType(StrEnum):
    COURSE = "course"
    INSTRUCTOR = "instructor"
    PLATFORM = "platform"


class ReportFormat(StrEnum):
    HTML = "html"
    CSV = "csv"


class ReportStatus(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class RiskReason(StrEnum):
    INACTIVE = "inactive"  # started, no activity for 7+ days
    BEHIND_COHORT = "behind_cohort"  # below half the cohort median, once the median passed 50 %
    STUCK_ON_MODULE = "stuck_on_module"  # on the same module for 14+ days without finishing it
