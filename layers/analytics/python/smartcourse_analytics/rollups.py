"""Folding a batch of progress events into roll-up rows: pure, no I/O.

A batch may hold several events for one row (a learner working through an asset); PostgreSQL's
``INSERT … ON CONFLICT DO UPDATE`` may touch a row once per statement, so the batch is folded first, one
delta per row, and each delta is merged with the stored row by the statement (sums add, the latest reading
wins by ``occurred_at``). Folding is order-free, so events that arrive out of order give the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from smartcourse_analytics.domain import EnrollmentStatus

# Ids are kept as the events carry them (strings, or UUIDs in tests): only compared, hashed and written out.
Id = uuid.UUID | str
Percent = Decimal | float


@dataclass(frozen=True)
class ProgressEvent:
    """The fields of one ``progress.updated`` the roll-ups use."""

    event_id: Id
    enrollment_id: Id
    user_id: Id
    course_id: Id
    module_id: Id
    asset_id: Id
    progress_percent: Percent
    time_spent_delta: int
    course_percent: Percent
    occurred_at: datetime

    @property
    def day(self) -> date:
        return self.occurred_at.date()


@dataclass
class AssetDelta:
    enrollment_id: Id
    asset_id: Id
    user_id: Id
    course_id: Id
    module_id: Id
    progress_percent: Percent
    time_spent_seconds: int
    first_progress_at: datetime
    last_progress_at: datetime


@dataclass
class EnrollmentDelta:
    enrollment_id: Id
    user_id: Id
    course_id: Id
    percent_complete: Percent
    percent_at: datetime
    current_module_id: Id
    time_spent_seconds: int
    progress_events: int
    first_activity_at: datetime
    last_activity_at: datetime


@dataclass
class CourseDayDelta:
    course_id: Id
    day: date
    progress_events: int
    time_spent_seconds: int


@dataclass(frozen=True)
class Folded:
    assets: list[AssetDelta]
    enrollments: list[EnrollmentDelta]
    course_days: list[CourseDayDelta]
    activity_days: list[tuple[Id, Id, date]]  # (course_id, user_id, day)
    user_activity_days: list[tuple[Id, date]]  # (user_id, day)


def reading_order(at: datetime, percent: Percent, module_id: Id) -> tuple[datetime, Percent, str]:
    """Which of two readings is the latest: by time, then (same instant) the higher percent (the LMS never lowers
    progress), then the module id — the same winner whatever order the readings arrive in. The merge statements
    compare the stored row the same way."""
    return at, percent, str(module_id)


def fold_progress(events: Iterable[ProgressEvent]) -> Folded:
    assets: dict[tuple[Id, Id], AssetDelta] = {}
    enrollments: dict[Id, EnrollmentDelta] = {}
    course_days: dict[tuple[Id, date], CourseDayDelta] = {}
    activity: set[tuple[Id, Id, date]] = set()
    user_activity: set[tuple[Id, date]] = set()
    for e in events:
        key = (e.enrollment_id, e.asset_id)
        row = assets.get(key)
        if row is None:
            assets[key] = AssetDelta(e.enrollment_id, e.asset_id, e.user_id, e.course_id, e.module_id,
                                     e.progress_percent, e.time_spent_delta, e.occurred_at, e.occurred_at)
        else:
            row.time_spent_seconds += e.time_spent_delta
            row.first_progress_at = min(row.first_progress_at, e.occurred_at)
            if (reading_order(e.occurred_at, e.progress_percent, e.module_id)
                    > reading_order(row.last_progress_at, row.progress_percent, row.module_id)):
                row.progress_percent, row.last_progress_at = e.progress_percent, e.occurred_at

        enrollment = enrollments.get(e.enrollment_id)
        if enrollment is None:
            enrollments[e.enrollment_id] = EnrollmentDelta(
                e.enrollment_id, e.user_id, e.course_id, e.course_percent, e.occurred_at, e.module_id,
                e.time_spent_delta, 1, e.occurred_at, e.occurred_at)
        else:
            enrollment.time_spent_seconds += e.time_spent_delta
            enrollment.progress_events += 1
            enrollment.first_activity_at = min(enrollment.first_activity_at, e.occurred_at)
            enrollment.last_activity_at = max(enrollment.last_activity_at, e.occurred_at)
            if (reading_order(e.occurred_at, e.course_percent, e.module_id)
                    > reading_order(enrollment.percent_at, enrollment.percent_complete, enrollment.current_module_id)):
                enrollment.percent_complete, enrollment.percent_at = e.course_percent, e.occurred_at
                enrollment.current_module_id = e.module_id

        day_key = (e.course_id, e.day)
        course_day = course_days.get(day_key)
        if course_day is None:
            course_days[day_key] = CourseDayDelta(e.course_id, e.day, 1, e.time_spent_delta)
        else:
            course_day.progress_events += 1
            course_day.time_spent_seconds += e.time_spent_delta
        activity.add((e.course_id, e.user_id, e.day))
        user_activity.add((e.user_id, e.day))
    return Folded(
        assets=list(assets.values()),
        enrollments=list(enrollments.values()),
        course_days=list(course_days.values()),
        activity_days=sorted(activity, key=str),
        user_activity_days=sorted(user_activity, key=str),
    )


# --- the enrollment topic -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnrollmentEvent:
    """One event of the enrollment topic: ``at`` is when it happened by its payload (enrolled_at, completed_at)
    or else by its envelope."""

    event_type: str
    enrollment_id: Id
    user_id: Id
    course_id: Id
    at: datetime


# What each event sets on its enrollment row (a created after a drop is a re-enrollment: the topic is ordered
# per enrollment) and which day count of its course it adds to.
_STATUS_OF = {"enrollment.created": EnrollmentStatus.ACTIVE, "enrollment.dropped": EnrollmentStatus.DROPPED,
              "enrollment.completed": EnrollmentStatus.COMPLETED}
_DAY_COLUMN = {"enrollment.created": "enrolled", "enrollment.dropped": "dropped",
               "enrollment.completed": "completed", "certificate.issued": "certificates"}


@dataclass
class EnrollmentChange:
    """The row values a batch's events leave on one enrollment (``changes``: only what they set), and what
    a row made now starts with."""

    enrollment_id: Id
    user_id: Id
    course_id: Id
    first_at: datetime
    changes: dict[str, Any] = field(default_factory=dict)


def fold_enrollment_events(events: Iterable[EnrollmentEvent], already_seen: Iterable[Id] = (),
                           ) -> tuple[list[EnrollmentChange], dict[tuple[Id, date], dict[str, int]]]:
    """Per enrollment, its events applied in delivery order; per course and day, the counts they add.

    An enrollment counts as enrolled once: a later ``enrollment.created`` of one ``already_seen`` (or seen earlier
    in the batch) is a re-enrollment, which the LMS announces with the first enrollment's date.
    """
    seen = {str(i) for i in already_seen}
    changes: dict[Id, EnrollmentChange] = {}
    days: dict[tuple[Id, date], dict[str, int]] = {}
    for e in events:
        change = changes.setdefault(e.enrollment_id, EnrollmentChange(e.enrollment_id, e.user_id, e.course_id, e.at))
        status = _STATUS_OF.get(e.event_type)
        if status is EnrollmentStatus.ACTIVE:
            change.changes.update(status=status.value, enrollment_seen=True, enrolled_at=e.at, dropped_at=None)
        elif status is EnrollmentStatus.DROPPED:
            change.changes.update(status=status.value, dropped_at=e.at)
        elif status is EnrollmentStatus.COMPLETED:
            change.changes.update(status=status.value, completed_at=e.at)
        if e.event_type == "enrollment.created":
            if str(e.enrollment_id) in seen:
                continue
            seen.add(str(e.enrollment_id))
        counts = days.setdefault((e.course_id, e.at.date()), {})
        column = _DAY_COLUMN[e.event_type]
        counts[column] = counts.get(column, 0) + 1
    return list(changes.values()), days
