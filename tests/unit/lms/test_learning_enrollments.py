"""Enrollment decisions and status changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from smartcourse.errors import Conflict, Forbidden, ValidationFailed
from smartcourse_lms.auth.domain import Principal
from smartcourse_lms.learning.courses import CourseStatus
from smartcourse_lms.learning.enrollments import (
    COURSE_FULL,
    EnrollAction,
    EnrollmentState,
    EnrollmentStatus,
    PrerequisitesMissing,
    apply_status,
    check_status_change,
    enroll_decision,
    new_enrollment,
)
from smartcourse_lms.learning.prerequisites import PrerequisiteRef

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
LEARNER = uuid.uuid4()
ALGEBRA = PrerequisiteRef(uuid.uuid4(), "Algebra")
ACTIVE, COMPLETED, DROPPED = EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED, EnrollmentStatus.DROPPED


def test_statuses_match_the_contract() -> None:
    assert [s.value for s in EnrollmentStatus] == ["active", "completed", "dropped"]


def test_new_enrollment_in_a_published_course() -> None:
    assert enroll_decision(CourseStatus.PUBLISHED, None, [], True) is EnrollAction.CREATE
    state = new_enrollment(NOW)
    assert state.status is ACTIVE and state.enrolled_at == NOW and state.completed_at is None


@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.ARCHIVED])
@pytest.mark.parametrize("existing", [None, DROPPED])
def test_only_published_courses_take_enrollments(status: CourseStatus, existing: EnrollmentStatus | None) -> None:
    with pytest.raises(Conflict) as caught:
        enroll_decision(status, existing, [], True)
    assert ("archived" in caught.value.message) is (status is CourseStatus.ARCHIVED)


@pytest.mark.parametrize("existing", [ACTIVE, COMPLETED])
@pytest.mark.parametrize("status", list(CourseStatus))
def test_existing_active_or_completed_enrollment_is_returned_as_is(existing: EnrollmentStatus,
                                                                  status: CourseStatus) -> None:
    # Even with the course full or prerequisites since added: the learner is already in.
    assert enroll_decision(status, existing, [ALGEBRA], False) is EnrollAction.RETURN_EXISTING


def test_dropped_enrollment_is_reactivated_when_rules_allow() -> None:
    assert enroll_decision(CourseStatus.PUBLISHED, DROPPED, [], True) is EnrollAction.REACTIVATE
    with pytest.raises(Conflict):
        enroll_decision(CourseStatus.PUBLISHED, DROPPED, [], False)
    with pytest.raises(PrerequisitesMissing):
        enroll_decision(CourseStatus.PUBLISHED, DROPPED, [ALGEBRA], True)


def test_missing_prerequisites_are_a_422_listing_them() -> None:
    geometry = PrerequisiteRef(uuid.uuid4(), "Geometry")
    with pytest.raises(ValidationFailed) as caught:
        enroll_decision(CourseStatus.PUBLISHED, None, [ALGEBRA, geometry], True)
    error = caught.value
    assert isinstance(error, PrerequisitesMissing)
    assert error.missing == [ALGEBRA, geometry]
    body = error.body()
    assert body["error"] == "prerequisites_missing"
    assert body["missing_prerequisites"] == [ALGEBRA.to_dict(), geometry.to_dict()]
    assert "Algebra" in str(body["message"]) and len(error.problems) == 2


def test_full_course_is_a_conflict() -> None:
    with pytest.raises(Conflict) as caught:
        enroll_decision(CourseStatus.PUBLISHED, None, [], False)
    assert caught.value.message == COURSE_FULL == "Course is full"


def test_prerequisites_are_checked_before_capacity() -> None:
    with pytest.raises(PrerequisitesMissing):
        enroll_decision(CourseStatus.PUBLISHED, None, [ALGEBRA], False)


def learner() -> Principal:
    return Principal(LEARNER, frozenset({"student"}))


@pytest.mark.parametrize(("current", "requested"),
                         [(ACTIVE, DROPPED), (DROPPED, ACTIVE), (ACTIVE, ACTIVE), (DROPPED, DROPPED)])
def test_learner_switches_between_active_and_dropped(current: EnrollmentStatus,
                                                     requested: EnrollmentStatus) -> None:
    check_status_change(learner(), LEARNER, current, requested)


@pytest.mark.parametrize("current", list(EnrollmentStatus))
def test_learner_never_sets_completed(current: EnrollmentStatus) -> None:
    with pytest.raises(Forbidden):
        check_status_change(learner(), LEARNER, current, COMPLETED)
    instructor_learner = Principal(LEARNER, frozenset({"student", "instructor"}))
    with pytest.raises(Forbidden):
        check_status_change(instructor_learner, LEARNER, current, COMPLETED)


@pytest.mark.parametrize("requested", [ACTIVE, DROPPED])
def test_learner_cannot_leave_completed(requested: EnrollmentStatus) -> None:
    with pytest.raises(Forbidden):
        check_status_change(learner(), LEARNER, COMPLETED, requested)


def test_someone_else_cannot_change_it() -> None:
    for roles in ({"student"}, {"instructor"}):
        with pytest.raises(Forbidden):
            check_status_change(Principal(uuid.uuid4(), frozenset(roles)), LEARNER, ACTIVE, DROPPED)


@pytest.mark.parametrize("current", list(EnrollmentStatus))
@pytest.mark.parametrize("requested", list(EnrollmentStatus))
def test_admin_sets_any_status(current: EnrollmentStatus, requested: EnrollmentStatus) -> None:
    check_status_change(Principal(uuid.uuid4(), frozenset({"admin"})), LEARNER, current, requested)


def test_status_timestamps() -> None:
    active = new_enrollment(NOW)
    dropped = apply_status(active, DROPPED, LATER)
    assert dropped.status is DROPPED and dropped.dropped_at == LATER
    back = apply_status(dropped, ACTIVE, LATER + timedelta(days=1))
    assert back.status is ACTIVE and back.dropped_at is None and back.enrolled_at == NOW
    assert apply_status(back, ACTIVE, LATER) is back
    completed = apply_status(back, COMPLETED, LATER)
    assert completed.completed_at == LATER
    first = EnrollmentState(ACTIVE, NOW, completed_at=NOW)
    assert apply_status(first, COMPLETED, LATER).completed_at == NOW  # set once
