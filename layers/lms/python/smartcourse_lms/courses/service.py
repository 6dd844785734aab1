"""Use cases of courses, prerequisites and modules. Each opens one unit of work; handlers call these only.

The rules (lifecycle, publish readiness, visibility, capacity, the prerequisite DAG) are the pure
functions of ``smartcourse_lms.learning``; this module loads state, applies them, stores and emits.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.errors import Conflict, Forbidden, NotFound, ValidationFailed
from smartcourse.pagination import DEFAULT_LIMIT
from sqlalchemy import Connection

from smartcourse_lms.auth.domain import Principal, Role
from smartcourse_lms.courses import repository as repo
from smartcourse_lms.courses.repository import CourseRecord, ModuleRecord
from smartcourse_lms.learning.courses import (
    AssetOutline,
    AssetStatus,
    AssetType,
    CourseState,
    CourseStatus,
    ModuleOutline,
    ProcessingStatus,
    archive,
    can_read,
    check_max_students,
    is_staff,
    publish,
)
from smartcourse_lms.learning.prerequisites import check_prerequisite_link

if TYPE_CHECKING:
    from smartcourse_events.envelope import EventEnvelope

T = TypeVar("T")

log = logging.getLogger(__name__)

COURSE_NOT_FOUND = "Course not found"
MODULE_NOT_FOUND = "Module not found"
NOT_STAFF = "Only the course's instructor or an admin may do this"
ARCHIVE_INSTEAD = "The course has had enrollments; archive it instead"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def content_key(course_id: uuid.UUID, module_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    """The S3 key of an article's editor document (domain.md, Content)."""
    return f"courses/{course_id}/modules/{module_id}/assets/{asset_id}/content.json"


def _state(course: CourseRecord) -> CourseState:
    return CourseState(status=CourseStatus(course.status), instructor_id=course.instructor_id,
                       processing_status=ProcessingStatus(course.processing_status),
                       published_at=course.published_at)


def _not_null(changes: Mapping[str, Any], *fields: str) -> None:
    problems: list[dict[str, object]] = [
        {"loc": ["body", f], "msg": "must not be null", "type": "not_null"} for f in fields
        if f in changes and changes[f] is None
    ]
    if problems:
        raise ValidationFailed("Required fields cannot be null", problems)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CourseService:
    def __init__(self, unit_of_work: Callable[[], UnitOfWork], *,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._uow = unit_of_work
        self._clock = clock

    # --- loading with visibility -------------------------------------------------------------------------

    @staticmethod
    def _readable(conn: Connection, actor: Principal, course_id: uuid.UUID, *,
                  for_update: bool = False) -> CourseRecord:
        """The course if the actor may see it; 404 otherwise (a draft's existence is not disclosed)."""
        course = repo.get_course(conn, course_id, for_update=for_update)
        if course is None or not can_read(_state(course), actor):
            raise NotFound(COURSE_NOT_FOUND)
        return course

    @classmethod
    def _staffed(cls, conn: Connection, actor: Principal, course_id: uuid.UUID) -> CourseRecord:
        """The course, locked, if the actor is its staff; 404 when invisible, 403 when visible but not theirs."""
        course = cls._readable(conn, actor, course_id, for_update=True)
        if not is_staff(course.instructor_id, actor):
            raise Forbidden(NOT_STAFF)
        return course

    # --- courses -----------------------------------------------------------------------------------------

    def create_course(self, actor: Principal, data: Mapping[str, Any]) -> CourseRecord:
        if not (actor.has_role(Role.INSTRUCTOR) or actor.is_admin):
            raise Forbidden("Only instructors and admins may create courses")
        instructor_id = data.get("instructor_id") or actor.user_id
        if instructor_id != actor.user_id and not actor.is_admin:
            raise Forbidden("Only an admin may create a course for another instructor")
        now = self._clock()
        course_id = uuid.uuid4()
        with self._uow() as uow:
            conn = uow.connection
            if instructor_id != actor.user_id and not repo.is_instructor(conn, instructor_id):
                raise ValidationFailed("instructor_id is not an instructor",
                                       [{"loc": ["body", "instructor_id"], "msg": "not an instructor",
                                         "type": "value_error"}])
            repo.insert_course(conn, {
                "id": course_id, "title": data["title"], "description": data.get("description"),
                "status": CourseStatus.DRAFT.value, "processing_status": ProcessingStatus.NOT_STARTED.value,
                "instructor_id": instructor_id, "max_students": data.get("max_students"),
                "category": data.get("category"), "level": data.get("level"), "created_at": now,
                "updated_at": now,
            })
            from smartcourse_events.course import CourseCreatedV1

            uow.emit(CourseCreatedV1(course_id=course_id, instructor_id=instructor_id, title=data["title"]),
                     occurred_at=now)
            course = repo.get_course(conn, course_id)
            uow.commit()
        assert course is not None
        return course

    def list_courses(self, actor: Principal, *, status: str | None = None, q: str | None = None,
                     category: str | None = None, level: str | None = None,
                     instructor_id: uuid.UUID | None = None, limit: int = DEFAULT_LIMIT,
                     offset: int = 0) -> Page[CourseRecord]:
        """Published courses for everyone; ``status`` draft/archived: the caller's own (an admin's: all)."""
        owner_id: uuid.UUID | None = None
        if status is not None and status != CourseStatus.PUBLISHED.value and not actor.is_admin:
            owner_id = actor.user_id
        statuses = [status or CourseStatus.PUBLISHED.value]
        with self._uow() as uow:
            items, total = repo.list_courses(uow.connection, statuses=statuses, owner_id=owner_id,
                                             q=(q or "").strip() or None, category=category, level=level,
                                             instructor_id=instructor_id, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def get_course(self, actor: Principal, course_id: uuid.UUID) -> CourseRecord:
        with self._uow() as uow:
            return self._readable(uow.connection, actor, course_id)

    def update_course(self, actor: Principal, course_id: uuid.UUID, changes: Mapping[str, Any]) -> CourseRecord:
        _not_null(changes, "title")
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            self._staffed(conn, actor, course_id)
            if changes.get("max_students") is not None:
                check_max_students(changes["max_students"], repo.active_enrollments(conn, course_id))
            if changes:
                repo.update_course(conn, course_id, changes, now)
            course = repo.get_course(conn, course_id)
            uow.commit()
        assert course is not None
        return course

    def delete_course(self, actor: Principal, course_id: uuid.UUID) -> None:
        with self._uow() as uow:
            conn = uow.connection
            self._staffed(conn, actor, course_id)
            if repo.ever_enrolled(conn, course_id):
                raise Conflict(ARCHIVE_INSTEAD)
            repo.delete_course(conn, course_id)
            uow.commit()

    def publish_course(self, actor: Principal, course_id: uuid.UUID) -> CourseRecord:
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            course = self._staffed(conn, actor, course_id)
            outline = repo.outline(conn, course_id)
            outlines = [ModuleOutline(m.title, [AssetOutline(a.title, AssetType(a.asset_type),
                                                             AssetStatus(a.status)) for a in items])
                        for m, items in outline]
            transition = publish(_state(course), outlines, now)
            if transition.changed:
                state = transition.course
                repo.update_course(conn, course_id, {"status": state.status.value,
                                                     "processing_status": state.processing_status.value,
                                                     "published_at": state.published_at}, now)
                from smartcourse_events.course import CoursePublishedV1, PublishedAsset, PublishedModule

                modules = [
                    PublishedModule(module_id=m.id, title=m.title, assets=[
                        PublishedAsset(asset_id=a.id, title=a.title, asset_type=a.asset_type,  # type: ignore[arg-type]
                                       source_url=a.source_url, description=a.description,
                                       content_key=content_key(course_id, m.id, a.id)
                                       if a.asset_type == AssetType.ARTICLE.value else None)
                        for a in items])
                    for m, items in outline
                ]
                assert state.published_at is not None
                uow.emit(CoursePublishedV1(course_id=course_id, instructor_id=course.instructor_id,
                                           title=course.title, description=course.description,
                                           published_at=state.published_at, modules=modules,
                                           prerequisite_ids=repo.prerequisite_ids(conn, course_id)),
                         occurred_at=now)
            result = repo.get_course(conn, course_id)
            uow.commit()
        assert result is not None
        return result

    def archive_course(self, actor: Principal, course_id: uuid.UUID) -> CourseRecord:
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            course = self._staffed(conn, actor, course_id)
            transition = archive(_state(course))
            if transition.changed:
                repo.update_course(conn, course_id, {"status": transition.course.status.value}, now)
                from smartcourse_events.course import CourseArchivedV1

                uow.emit(CourseArchivedV1(course_id=course_id), occurred_at=now)
            result = repo.get_course(conn, course_id)
            uow.commit()
        assert result is not None
        return result

    # --- prerequisites -----------------------------------------------------------------------------------

    def add_prerequisite(self, actor: Principal, course_id: uuid.UUID, prerequisite_id: uuid.UUID) -> None:
        with self._uow() as uow:
            conn = uow.connection
            # The graph lock before the course lock: linking A→B holds A and key-share-locks B (the foreign key),
            # so with the graph lock second, linking B→C at once held B and waited for the graph — a deadlock.
            repo.lock_prerequisite_graph(conn)
            self._staffed(conn, actor, course_id)
            if prerequisite_id != course_id:
                self._readable(conn, actor, prerequisite_id)
            check_prerequisite_link(repo.prerequisite_edges_from(conn, prerequisite_id), course_id, prerequisite_id)
            repo.add_prerequisite(conn, course_id, prerequisite_id)
            uow.commit()

    def remove_prerequisite(self, actor: Principal, course_id: uuid.UUID, prerequisite_id: uuid.UUID) -> None:
        with self._uow() as uow:
            conn = uow.connection
            self._staffed(conn, actor, course_id)
            repo.remove_prerequisite(conn, course_id, prerequisite_id)
            uow.commit()

    def list_prerequisites(self, actor: Principal, course_id: uuid.UUID, *, limit: int = DEFAULT_LIMIT,
                           offset: int = 0) -> Page[CourseRecord]:
        with self._uow() as uow:
            conn = uow.connection
            self._readable(conn, actor, course_id)
            items, total = repo.list_prerequisites(conn, course_id,
                                                   reader_id=None if actor.is_admin else actor.user_id,
                                                   limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    # --- modules -----------------------------------------------------------------------------------------

    @classmethod
    def _module_for(cls, conn: Connection, actor: Principal, module_id: uuid.UUID, *,
                    staff: bool) -> tuple[ModuleRecord, CourseRecord]:
        """The module and its course if the actor may read it (``staff``: change it); 404 otherwise.

        Also the assets service's way in: an asset's rights are its module's course's."""
        module = repo.get_module(conn, module_id)
        if module is None:
            raise NotFound(MODULE_NOT_FOUND)
        try:
            course = (cls._staffed(conn, actor, module.course_id) if staff
                      else cls._readable(conn, actor, module.course_id))
        except NotFound:
            raise NotFound(MODULE_NOT_FOUND) from None
        return module, course

    def create_module(self, actor: Principal, data: Mapping[str, Any]) -> ModuleRecord:
        now = self._clock()
        module_id = uuid.uuid4()
        course_id = data["course_id"]
        with self._uow() as uow:
            conn = uow.connection
            self._staffed(conn, actor, course_id)  # the course row lock also serialises "append last"
            order_index = data.get("order_index")
            if order_index is None:
                order_index = repo.next_order_index(conn, course_id)
            repo.insert_module(conn, {"id": module_id, "course_id": course_id, "title": data["title"],
                                      "description": data.get("description"), "order_index": order_index,
                                      "created_at": now, "updated_at": now})
            module = repo.get_module(conn, module_id)
            uow.commit()
        assert module is not None
        return module

    def list_modules(self, actor: Principal, course_id: uuid.UUID, *, limit: int = DEFAULT_LIMIT,
                     offset: int = 0) -> Page[ModuleRecord]:
        with self._uow() as uow:
            conn = uow.connection
            self._readable(conn, actor, course_id)
            items, total = repo.list_modules(conn, course_id, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def get_module(self, actor: Principal, module_id: uuid.UUID) -> ModuleRecord:
        with self._uow() as uow:
            return self._module_for(uow.connection, actor, module_id, staff=False)[0]

    def update_module(self, actor: Principal, module_id: uuid.UUID, changes: Mapping[str, Any]) -> ModuleRecord:
        _not_null(changes, "title", "order_index")
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            self._module_for(conn, actor, module_id, staff=True)
            if changes:
                repo.update_module(conn, module_id, changes, now)
            module = repo.get_module(conn, module_id)
            uow.commit()
        assert module is not None
        return module

    def delete_module(self, actor: Principal, module_id: uuid.UUID) -> None:
        with self._uow() as uow:
            conn = uow.connection
            _, course = self._module_for(conn, actor, module_id, staff=True)
            if course.status == CourseStatus.PUBLISHED.value and repo.ever_enrolled(conn, course.id):
                raise Conflict("Modules of a published course with enrollments cannot be deleted")
            repo.delete_module(conn, module_id)
            uow.commit()


def course_service_from_settings() -> CourseService:
    from smartcourse.db.engine import get_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory

    return CourseService(unit_of_work_factory(get_engine))


_service: CourseService | None = None


def get_course_service() -> CourseService:
    """The process-wide service (built on first request, reused by warm invocations)."""
    global _service
    if _service is None:
        _service = course_service_from_settings()
    return _service


# --- processing results (the AI service reports back through course.processing_* events) ----------------------


def record_processing_result(conn: Connection, course_id: uuid.UUID, *, succeeded: bool,
                             now: datetime | None = None) -> bool | None:
    """Set ``processing_status`` to ready/failed inside the caller's transaction (an event consumer's).

    None when the course does not exist (deleted meanwhile); else whether the status changed.
    """
    from smartcourse_lms.learning.courses import finish_processing

    course = repo.get_course(conn, course_id, for_update=True)
    if course is None:
        return None
    transition = finish_processing(_state(course), succeeded)
    if transition.changed:
        repo.update_course(conn, course_id, {"processing_status": transition.course.processing_status.value},
                           now or _utc_now())
    return transition.changed


def apply_processing_event(envelope: EventEnvelope, conn: Connection) -> None:
    """Consumer effect for ``course.processing_completed`` / ``course.processing_failed``."""
    from smartcourse_events.course import CourseProcessingCompletedV1, CourseProcessingFailedV1

    succeeded = envelope.event_type == CourseProcessingCompletedV1.event_type
    model = CourseProcessingCompletedV1 if succeeded else CourseProcessingFailedV1
    payload = model.model_validate(envelope.payload)
    changed = record_processing_result(conn, payload.course_id, succeeded=succeeded)
    ids = {"event_id": str(envelope.event_id), "course_id": str(payload.course_id)}
    if changed is None:
        # Not poison: the course may have been deleted after publishing; there is nothing left to update.
        log.warning("processing result for an unknown course ignored", extra=ids)
    elif isinstance(payload, CourseProcessingFailedV1):
        # No column keeps the error (schema unchanged); the log does, for staff. It never holds personal data.
        log.warning("course processing failed: %s", payload.error[:500], extra=ids)
