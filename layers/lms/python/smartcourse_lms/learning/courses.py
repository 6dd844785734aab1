"""Course lifecycle, publish readiness, visibility and capacity. Pure: no I/O, ``now`` is passed in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from smartcourse.errors import Conflict, ValidationFailed

from smartcourse_lms.auth.domain import Principal


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class ProcessingStatus(StrEnum):
    NOT_STARTED = "not_started"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Level(StrEnum):
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class AssetType(StrEnum):
    VIDEO = "video"
    PDF = "pdf"
    ARTICLE = "article"
    LINK = "link"
    QUIZ = "quiz"
    DOCUMENT = "document"
    OTHER = "other"


class AssetStatus(StrEnum):
    DRAFT = "draft"
    UPLOAD_PENDING = "upload_pending"
    READY = "ready"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CourseState:
    """The part of a course the lifecycle and visibility rules look at."""

    status: CourseStatus
    instructor_id: uuid.UUID
    processing_status: ProcessingStatus = ProcessingStatus.NOT_STARTED
    published_at: datetime | None = None


@dataclass(frozen=True)
class AssetOutline:
    title: str
    asset_type: AssetType
    status: AssetStatus


@dataclass(frozen=True)
class ModuleOutline:
    title: str
    assets: Sequence[AssetOutline]


@dataclass(frozen=True)
class Transition:
    """Result of a lifecycle call; ``changed`` is False for an idempotent no-op (store and emit nothing)."""

    course: CourseState
    changed: bool


# --- visibility ------------------------------------------------------------------------------------------

def is_staff(instructor_id: uuid.UUID, principal: Principal | None) -> bool:
    if principal is None:
        return False
    return principal.is_admin or principal.user_id == instructor_id


def can_read(course: CourseState, principal: Principal | None) -> bool:
    """Drafts and archived courses are staff-only; callers answer 404 (not 403) when this is False."""
    return course.status is CourseStatus.PUBLISHED or is_staff(course.instructor_id, principal)


def accepts_enrollments(course: CourseState) -> bool:
    return course.status is CourseStatus.PUBLISHED


# --- publish readiness -----------------------------------------------------------------------------------

def publish_problems(course: CourseState, modules_with_assets: Sequence[ModuleOutline]) -> list[str]:
    """Every reason the course cannot be published yet (all of them, so staff can fix them in one go).

    ``course`` is only consulted for its status: a course that is already published keeps its
    publication even if content changed later, so it has no publish problems by definition.
    """
    if course.status is CourseStatus.PUBLISHED:
        return []
    if not modules_with_assets:
        return ["Course has no modules"]
    problems: list[str] = []
    for module in modules_with_assets:
        if not module.assets:
            problems.append(f"Module '{module.title}' has no assets")
        for asset in module.assets:
            if asset.asset_type is AssetType.ARTICLE and asset.status is not AssetStatus.READY:
                problems.append(f"Article '{asset.title}' in module '{module.title}' is not ready")
    return problems


# --- lifecycle -------------------------------------------------------------------------------------------

def publish(course: CourseState, modules_with_assets: Sequence[ModuleOutline], now: datetime) -> Transition:
    if course.status is CourseStatus.ARCHIVED:
        raise Conflict("An archived course cannot be published again")
    if course.status is CourseStatus.PUBLISHED:
        return Transition(course, changed=False)
    problems = publish_problems(course, modules_with_assets)
    if problems:
        raise ValidationFailed("Course is not ready to be published",
                               [{"loc": ["course"], "msg": p, "type": "publish_requirement"} for p in problems])
    published = replace(course, status=CourseStatus.PUBLISHED, processing_status=ProcessingStatus.PROCESSING,
                        published_at=now)
    return Transition(published, changed=True)


def archive(course: CourseState) -> Transition:
    # Archiving twice is a no-op like publishing twice, so a retried request does not emit a second event.
    if course.status is CourseStatus.ARCHIVED:
        return Transition(course, changed=False)
    return Transition(replace(course, status=CourseStatus.ARCHIVED), changed=True)


def finish_processing(course: CourseState, succeeded: bool) -> Transition:
    """The AI service reported back. A failure never unpublishes the course."""
    outcome = ProcessingStatus.READY if succeeded else ProcessingStatus.FAILED
    if course.processing_status is outcome:
        return Transition(course, changed=False)
    return Transition(replace(course, processing_status=outcome), changed=True)


def retrigger_processing(course: CourseState) -> Transition:
    if course.status is not CourseStatus.PUBLISHED:
        raise Conflict("Only a published course can be indexed")
    if course.processing_status is ProcessingStatus.PROCESSING:
        return Transition(course, changed=False)
    return Transition(replace(course, processing_status=ProcessingStatus.PROCESSING), changed=True)


# --- capacity ----------------------------------------------------------------------------------------------

def capacity_allows(max_students: int | None, active_count: int) -> bool:
    """Room for one more active learner? ``None`` means unlimited; only active enrollments are counted."""
    return max_students is None or active_count < max_students


def check_max_students(max_students: int | None, active_count: int) -> None:
    if max_students is None:
        return
    if max_students < 1:
        raise ValidationFailed("max_students must be at least 1",
                               [{"loc": ["body", "max_students"], "msg": "must be at least 1",
                                 "type": "greater_than_equal"}])
    if max_students < active_count:
        raise Conflict(f"max_students cannot be lower than the {active_count} active enrollments")
