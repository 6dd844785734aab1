"""Enrollment rules: who may enroll, re-enrolling, and status changes. Pure: no I/O, ``now`` is passed in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from smartcourse.errors import Conflict, Forbidden, ValidationFailed

from smartcourse_lms.auth.domain import Principal
from smartcourse_lms.learning.courses import CourseStatus
from smartcourse_lms.learning.prerequisites import PrerequisiteRef


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    DROPPED = "dropped"


class EnrollAction(StrEnum):
    CREATE = "create"  # 201
    RETURN_EXISTING = "return_existing"  # 200, nothing changes
    REACTIVATE = "reactivate"  # 200, the dropped enrollment becomes active again


COURSE_FULL = "Course is full"


class PrerequisitesMissing(ValidationFailed):
    """422 whose body lists the courses still to complete."""

    def __init__(self, missing: Sequence[PrerequisiteRef]) -> None:
        titles = ", ".join(ref.title for ref in missing)
        super().__init__(f"Complete the prerequisite courses first: {titles}",
                         [{"loc": ["body", "course_id"], "msg": f"prerequisite '{ref.title}' not completed",
                           "type": "prerequisite_missing"} for ref in missing])
        self.missing = list(missing)

    def body(self) -> dict[str, object]:
        return {"error": "prerequisites_missing",
                "missing_prerequisites": [ref.to_dict() for ref in self.missing],
                "message": self.message}


def enroll_decision(course_status: CourseStatus, existing_status: EnrollmentStatus | None,
                    prerequisites_missing: Sequence[PrerequisiteRef], capacity_ok: bool) -> EnrollAction:
    """What a POST /enrollments does, or the error it answers with.

    ``capacity_ok`` is ``capacity_allows`` over the *active* enrollments, so a dropped learner does not
    hold a seat and must pass the capacity check again to come back.
    """
    # An active or completed learner keeps access even after archiving, so a retried enrollment
    # request returns their enrollment instead of failing on the course status.
    if existing_status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED):
        return EnrollAction.RETURN_EXISTING
    if course_status is CourseStatus.ARCHIVED:
        raise Conflict("Course is archived and takes no new enrollments")
    if course_status is not CourseStatus.PUBLISHED:
        raise Conflict("Course is not published")
    if prerequisites_missing:
        raise PrerequisitesMissing(prerequisites_missing)
    if not capacity_ok:
        raise Conflict(COURSE_FULL)
    return EnrollAction.REACTIVATE if existing_status is EnrollmentStatus.DROPPED else EnrollAction.CREATE


# --- status changes -----------------------------------------------------------------------------------------

_LEARNER_SETTABLE = frozenset({EnrollmentStatus.ACTIVE, EnrollmentStatus.DROPPED})


def check_status_change(actor: Principal, enrollment_user_id: uuid.UUID, current: EnrollmentStatus,
                        requested: EnrollmentStatus) -> None:
    """Admins set any status; the learner only moves between active and dropped.

    ``completed`` is otherwise reached only through progress, and a completed enrollment cannot be
    dropped by its learner (it would hide an earned completion).
    """
    if actor.is_admin:
        return
    if actor.user_id != enrollment_user_id:
        raise Forbidden("Only the learner or an admin may change this enrollment")
    if requested is EnrollmentStatus.COMPLETED:
        raise Forbidden("Completion is reached through progress, not set by hand")
    if current not in _LEARNER_SETTABLE:
        raise Forbidden(f"A {current} enrollment cannot be changed by its learner")


@dataclass(frozen=True)
class EnrollmentState:
    status: EnrollmentStatus
    enrolled_at: datetime
    completed_at: datetime | None = None
    dropped_at: datetime | None = None


def new_enrollment(now: datetime) -> EnrollmentState:
    return EnrollmentState(status=EnrollmentStatus.ACTIVE, enrolled_at=now)


def apply_status(state: EnrollmentState, requested: EnrollmentStatus, now: datetime) -> EnrollmentState:
    """The timestamps that go with a (permitted) status change; the same status changes nothing."""
    if state.status is requested:
        return state
    if requested is EnrollmentStatus.DROPPED:
        return replace(state, status=requested, dropped_at=now)
    if requested is EnrollmentStatus.COMPLETED:
        return replace(state, status=requested, completed_at=state.completed_at or now, dropped_at=None)
    return replace(state, status=requested, dropped_at=None)
