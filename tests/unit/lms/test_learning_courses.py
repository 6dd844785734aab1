"""Course lifecycle, publish readiness, visibility and capacity."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import pytest
from smartcourse.errors import Conflict, ValidationFailed
from smartcourse_lms.auth.domain import Principal
from smartcourse_lms.learning.courses import (
    AssetOutline,
    AssetStatus,
    AssetType,
    CourseState,
    CourseStatus,
    Level,
    ModuleOutline,
    ProcessingStatus,
    accepts_enrollments,
    archive,
    can_read,
    capacity_allows,
    check_max_students,
    finish_processing,
    is_staff,
    publish,
    publish_problems,
    retrigger_processing,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
OWNER = uuid.uuid4()
READY_ARTICLE = AssetOutline("Intro", AssetType.ARTICLE, AssetStatus.READY)
VIDEO = AssetOutline("Clip", AssetType.VIDEO, AssetStatus.READY)
GOOD_MODULES = [ModuleOutline("Basics", [READY_ARTICLE, VIDEO])]


def course(status: CourseStatus, processing: ProcessingStatus = ProcessingStatus.NOT_STARTED) -> CourseState:
    return CourseState(status=status, instructor_id=OWNER, processing_status=processing)


def principal(*roles: str, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(user_id=user_id or uuid.uuid4(), roles=frozenset(roles))


def test_enum_values_match_the_contract() -> None:
    assert [s.value for s in CourseStatus] == ["draft", "published", "archived"]
    assert [s.value for s in ProcessingStatus] == ["not_started", "processing", "ready", "failed"]
    assert [s.value for s in Level] == ["beginner", "intermediate", "advanced"]


def test_publishing_a_ready_draft_starts_processing() -> None:
    result = publish(course(CourseStatus.DRAFT), GOOD_MODULES, NOW)
    assert result.changed
    assert result.course.status is CourseStatus.PUBLISHED
    assert result.course.processing_status is ProcessingStatus.PROCESSING
    assert result.course.published_at == NOW
    assert result.course.instructor_id == OWNER


def test_publishing_a_published_course_is_a_no_op() -> None:
    published = CourseState(CourseStatus.PUBLISHED, OWNER, ProcessingStatus.READY, NOW)
    result = publish(published, [], datetime(2027, 1, 1, tzinfo=UTC))
    assert not result.changed and result.course == published
    # Content changed after publication does not make a published course "unpublishable".
    assert publish_problems(published, []) == []


def test_an_archived_course_cannot_be_published() -> None:
    with pytest.raises(Conflict):
        publish(course(CourseStatus.ARCHIVED), GOOD_MODULES, NOW)


def test_publish_refuses_with_every_problem_listed() -> None:
    modules = [ModuleOutline("Empty", []),
               ModuleOutline("Reading", [AssetOutline("Draft text", AssetType.ARTICLE, AssetStatus.DRAFT), VIDEO,
                                         AssetOutline("Bad text", AssetType.ARTICLE, AssetStatus.REJECTED)])]
    with pytest.raises(ValidationFailed) as caught:
        publish(course(CourseStatus.DRAFT), modules, NOW)
    messages = [str(p["msg"]) for p in caught.value.problems]
    assert len(messages) == 3
    assert any("Empty" in m for m in messages)
    assert any("Draft text" in m for m in messages) and any("Bad text" in m for m in messages)


def test_publish_problems_no_modules() -> None:
    assert publish_problems(course(CourseStatus.DRAFT), []) == ["Course has no modules"]


def test_publish_problems_each_module_without_assets_by_title() -> None:
    problems = publish_problems(course(CourseStatus.DRAFT),
                                [ModuleOutline("One", []), ModuleOutline("Two", [VIDEO]), ModuleOutline("Three", [])])
    assert len(problems) == 2 and "One" in problems[0] and "Three" in problems[1]


@pytest.mark.parametrize("status", [AssetStatus.DRAFT, AssetStatus.UPLOAD_PENDING, AssetStatus.REJECTED])
def test_publish_problems_article_not_ready(status: AssetStatus) -> None:
    problems = publish_problems(course(CourseStatus.DRAFT),
                                [ModuleOutline("M", [AssetOutline("Essay", AssetType.ARTICLE, status)])])
    assert len(problems) == 1 and "Essay" in problems[0]


def test_only_articles_need_to_be_ready() -> None:
    pending_video = AssetOutline("Clip", AssetType.VIDEO, AssetStatus.DRAFT)
    assert publish_problems(course(CourseStatus.DRAFT), [ModuleOutline("M", [pending_video])]) == []
    assert publish_problems(course(CourseStatus.DRAFT), GOOD_MODULES) == []


@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.PUBLISHED])
def test_draft_and_published_can_be_archived(status: CourseStatus) -> None:
    result = archive(course(status))
    assert result.changed and result.course.status is CourseStatus.ARCHIVED


def test_archiving_twice_is_a_no_op() -> None:
    archived = course(CourseStatus.ARCHIVED)
    assert archive(archived) == archive(archived)
    assert not archive(archived).changed


@pytest.mark.parametrize("status", list(CourseStatus))
def test_nothing_returns_to_draft(status: CourseStatus) -> None:
    results = [archive(course(status))]
    with contextlib.suppress(Conflict):  # archived: publishing is refused, which is also fine
        results.append(publish(course(status), GOOD_MODULES, NOW))
    assert all(r.course.status is not CourseStatus.DRAFT for r in results)


def test_processing_outcome_never_unpublishes() -> None:
    published = publish(course(CourseStatus.DRAFT), GOOD_MODULES, NOW).course
    failed = finish_processing(published, succeeded=False)
    assert failed.changed and failed.course.status is CourseStatus.PUBLISHED
    assert failed.course.processing_status is ProcessingStatus.FAILED
    assert finish_processing(published, succeeded=True).course.processing_status is ProcessingStatus.READY
    assert not finish_processing(failed.course, succeeded=False).changed


def test_staff_can_retrigger_processing_of_a_published_course_only() -> None:
    failed = course(CourseStatus.PUBLISHED, ProcessingStatus.FAILED)
    again = retrigger_processing(failed)
    assert again.changed and again.course.processing_status is ProcessingStatus.PROCESSING
    assert not retrigger_processing(again.course).changed
    for status in (CourseStatus.DRAFT, CourseStatus.ARCHIVED):
        with pytest.raises(Conflict):
            retrigger_processing(course(status))


def test_staff_is_owner_or_admin() -> None:
    assert is_staff(OWNER, principal("instructor", user_id=OWNER))
    assert is_staff(OWNER, principal("admin"))
    assert not is_staff(OWNER, principal("instructor"))
    assert not is_staff(OWNER, principal("student"))
    assert not is_staff(OWNER, None)


def test_published_courses_are_readable_by_anyone() -> None:
    published = course(CourseStatus.PUBLISHED)
    assert can_read(published, None) and can_read(published, principal("student"))


@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.ARCHIVED])
def test_drafts_and_archived_courses_are_staff_only(status: CourseStatus) -> None:
    hidden = course(status)
    assert can_read(hidden, principal("instructor", user_id=OWNER))
    assert can_read(hidden, principal("admin"))
    assert not can_read(hidden, principal("instructor"))
    assert not can_read(hidden, principal("student"))
    assert not can_read(hidden, None)


def test_only_published_courses_accept_enrollments() -> None:
    assert [accepts_enrollments(course(s)) for s in CourseStatus] == [False, True, False]


@pytest.mark.parametrize(("max_students", "active", "allowed"),
                         [(None, 10_000, True), (3, 2, True), (3, 3, False), (3, 4, False), (1, 0, True)])
def test_capacity(max_students: int | None, active: int, allowed: bool) -> None:
    assert capacity_allows(max_students, active) is allowed


def test_max_students_may_not_drop_below_active_enrollments() -> None:
    check_max_students(None, 50)
    check_max_students(5, 5)
    check_max_students(6, 5)
    with pytest.raises(Conflict):
        check_max_students(4, 5)
    with pytest.raises(ValidationFailed):
        check_max_students(0, 0)
