"""The analytics use cases: who may see which figures, and the nudge command.

Authorization (api.md "Analytics service"): a learner sees only themself; a course's figures are for its
staff (the course's instructor, or an admin); the instructor overview for instructors (and admins, for the
courses they teach); the platform for admins. An unknown course is a 404; a course someone is not staff of is
a 403, except a draft course, which a non-staff caller may not even know exists (404, api.md conventions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.errors import Forbidden, NotFound
from smartcourse.principal import Principal, Role
from smartcourse_events.analytics import LearnerNudgeRequestedV1
from sqlalchemy import Connection, Engine

from smartcourse_analytics import figures, queries
from smartcourse_analytics.domain import CourseStatus
from smartcourse_analytics.metrics import to_day
from smartcourse_analytics.queries import CourseRow

PRODUCER = "analytics"
NOT_STAFF = "Only the course's staff can see its analytics"
NOT_ENROLLED = "not_enrolled"
ALREADY_NUDGED_TODAY = "already_nudged_today"


def is_course_staff(instructor_id: uuid.UUID, caller: Principal) -> bool:
    return caller.is_admin or instructor_id == caller.user_id


def staff_course(conn: Connection, caller: Principal, course_id: uuid.UUID) -> CourseRow:
    """The course if ``caller`` is its staff; 404 when unknown (or a draft of someone else), 403 otherwise."""
    row = queries.course(conn, course_id)
    if row is None:
        raise NotFound(figures.COURSE_NOT_FOUND)
    if not is_course_staff(row.instructor_id, caller):
        if row.status == CourseStatus.DRAFT:
            raise NotFound(figures.COURSE_NOT_FOUND)
        raise Forbidden(NOT_STAFF)
    return row


def _require_role(caller: Principal, *roles: Role) -> None:
    if not any(caller.has_role(r) for r in roles):
        raise Forbidden("Not allowed")


class Analytics:
    def __init__(self, engine: Callable[[], Engine], clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def _read(self) -> Connection:
        return self._engine().connect()

    # --- reads ------------------------------------------------------------------------------------------------

    def my_progress(self, caller: Principal) -> dict[str, Any]:
        with self._read() as conn:
            return figures.learner_progress(conn, caller.user_id, to_day(self._clock()))

    def course(self, caller: Principal, course_id: uuid.UUID, period_from: date | None,
               period_to: date | None) -> dict[str, Any]:
        with self._read() as conn:
            row = staff_course(conn, caller, course_id)
            return figures.course_analytics(conn, course_id, period_from, period_to, to_day(self._clock()),
                                            known=row)

    def course_learners(self, caller: Principal, course_id: uuid.UUID, limit: int, offset: int) -> dict[str, Any]:
        with self._read() as conn:
            row = staff_course(conn, caller, course_id)
            return figures.course_learners(conn, course_id, limit, offset, known=row)

    def at_risk(self, caller: Principal, course_id: uuid.UUID) -> dict[str, Any]:
        with self._read() as conn:
            row = staff_course(conn, caller, course_id)
            return figures.at_risk(conn, course_id, self._clock(), known=row)

    def instructor_overview(self, caller: Principal) -> dict[str, Any]:
        _require_role(caller, Role.INSTRUCTOR, Role.ADMIN)
        with self._read() as conn:
            return figures.instructor_overview(conn, caller.user_id, self._clock())

    def platform(self, caller: Principal, period_from: date | None, period_to: date | None) -> dict[str, Any]:
        _require_role(caller, Role.ADMIN)
        with self._read() as conn:
            return figures.platform_overview(conn, period_from, period_to, to_day(self._clock()))

    # --- the nudge command --------------------------------------------------------------------------------------

    def nudge(self, caller: Principal, course_id: uuid.UUID, user_ids: Sequence[uuid.UUID],
              message: str) -> dict[str, Any]:
        """Nudge learners with an active enrollment of the course, at most once per learner per course per day.

        Each nudge is recorded and its ``learner.nudge_requested`` written to the outbox in one transaction
        (the notification service sends it); the unit of work asks the outbox publisher to drain after the
        commit. The others are skipped with the reason: not an active learner of the course, or nudged today
        already (the unique index decides, so two concurrent requests cannot both nudge).
        """
        now = self._clock()
        with UnitOfWork(self._engine(), producer=PRODUCER) as uow:
            conn = uow.connection
            row = staff_course(conn, caller, course_id)
            enrolled = queries.active_enrollees(conn, course_id, user_ids)
            planned = [{"nudge_id": uuid.uuid4(), "course_id": course_id, "user_id": uid,
                        "sender_id": caller.user_id, "message": message, "sent_at": now, "sent_on": to_day(now)}
                       for uid in sorted(user_ids) if uid in enrolled]
            # In one order (user id), so that two requests nudging the same learners wait for each other on the
            # unique index instead of deadlocking there.
            recorded = queries.insert_nudges(conn, planned)
            for uid in user_ids:
                if uid in recorded:
                    uow.emit(LearnerNudgeRequestedV1(nudge_id=recorded[uid], course_id=course_id,
                                                     course_title=row.title, user_id=uid,
                                                     instructor_id=caller.user_id, message=message),
                             occurred_at=now)
            uow.commit()
        return {
            "nudged": [{"user_id": str(uid), "nudge_id": str(recorded[uid])} for uid in user_ids if uid in recorded],
            "skipped": [{"user_id": str(uid), "reason": ALREADY_NUDGED_TODAY if uid in enrolled else NOT_ENROLLED}
                        for uid in user_ids if uid not in recorded],
        }


@lru_cache(maxsize=1)
def get_analytics() -> Analytics:
    from smartcourse.db.engine import get_engine

    return Analytics(get_engine)
