"""The reads behind the analytics routes: SQL over the roll-ups of ``tables`` only, never over the facts.

Each query is one statement that an index answers (the index it relies on is named where it matters) and
returns counts, sums or rows; what the numbers mean is decided in ``metrics`` and ``at_risk``. Queries that
serve one course take lists of course ids as well, so a view over many courses (the instructor overview)
costs the same number of round trips as one course.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, extract, func, select, true
from sqlalchemy.dialects.postgresql import insert

from smartcourse_analytics import tables as t
from smartcourse_analytics.domain import EnrollmentStatus
from smartcourse_analytics.metrics import ModuleInfo, Period

ACTIVE = EnrollmentStatus.ACTIVE.value
COMPLETED = EnrollmentStatus.COMPLETED.value
DROPPED = EnrollmentStatus.DROPPED.value
# How far back a streak is looked for: a ten-year streak is long enough for anyone (an index-only scan).
STREAK_LOOKBACK_DAYS = 3660


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def period_bounds(period: Period) -> tuple[datetime, datetime]:
    """The period as a half-open range of instants: [start 00:00 UTC, the day after end 00:00 UTC)."""
    return day_start(period.start), day_start(period.end + timedelta(days=1))


# --- the course itself ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseRow:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    status: str
    created_at: datetime | None
    first_enrolled_at: datetime | None


def course(conn: Connection, course_id: uuid.UUID) -> CourseRow | None:
    """The course and the time of its first enrollment (ix (course_id, enrolled_at) gives the min)."""
    c = t.courses.c
    first = (select(func.min(t.enrollments.c.enrolled_at)).where(t.enrollments.c.course_id == c.course_id)
             .scalar_subquery())
    row = conn.execute(select(c.course_id, c.instructor_id, c.title, c.status, c.created_at, first)
                       .where(c.course_id == course_id)).first()
    return None if row is None else CourseRow(*row)


@dataclass(frozen=True)
class CourseSummary:
    course_id: uuid.UUID
    title: str
    status: str


def courses_of_instructor(conn: Connection, instructor_id: uuid.UUID) -> list[CourseSummary]:
    c = t.courses.c
    rows = conn.execute(select(c.course_id, c.title, c.status).where(c.instructor_id == instructor_id)
                        .order_by(c.title, c.course_id))
    return [CourseSummary(*r) for r in rows]


# --- enrollments: counts, progress, time to complete ----------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentTotals:
    total: int = 0
    active: int = 0
    completed: int = 0
    dropped: int = 0
    percent_sum: Decimal = Decimal(0)
    completion_seconds: tuple[float, ...] = ()


def enrollment_totals(conn: Connection, course_ids: Sequence[uuid.UUID], period: Period | None = None, *,
                      with_durations: bool = False) -> dict[uuid.UUID, EnrollmentTotals]:
    """Per course: its enrollments (enrolled in ``period`` when given), by status, their percent sum and (with
    ``with_durations``) each completed one's completed_at - enrolled_at in seconds."""
    if not course_ids:
        return {}
    e = t.enrollments.c
    columns: list[Any] = [
        e.course_id, func.count(),
        func.count().filter(e.status == ACTIVE), func.count().filter(e.status == COMPLETED),
        func.count().filter(e.status == DROPPED), func.coalesce(func.sum(e.percent_complete), 0),
    ]
    if with_durations:
        columns.append(func.array_agg(extract("epoch", e.completed_at - e.enrolled_at))
                       .filter(and_(e.status == COMPLETED, e.completed_at.is_not(None))))
    query = select(*columns).where(e.course_id.in_(course_ids)).group_by(e.course_id)
    if period is not None:
        start, end = period_bounds(period)
        query = query.where(e.enrolled_at >= start, e.enrolled_at < end)
    out: dict[uuid.UUID, EnrollmentTotals] = {}
    for row in conn.execute(query):
        durations = tuple(float(d) for d in (row[6] or ())) if with_durations else ()
        out[row[0]] = EnrollmentTotals(int(row[1]), int(row[2]), int(row[3]), int(row[4]), Decimal(row[5]),
                                       durations)
    return out


def active_learners(conn: Connection, course_ids: Sequence[uuid.UUID], last_7: Period,
                    last_30: Period) -> dict[uuid.UUID, tuple[int, int]]:
    """Per course: distinct learners with activity in each window (ix activity_days (course_id, day))."""
    if not course_ids:
        return {}
    a = t.activity_days.c
    rows = conn.execute(
        select(a.course_id,
               func.count(a.user_id.distinct()).filter(a.day >= last_7.start, a.day <= last_7.end),
               func.count(a.user_id.distinct()).filter(a.day >= last_30.start, a.day <= last_30.end))
        .where(a.course_id.in_(course_ids), a.day >= min(last_7.start, last_30.start),
               a.day <= max(last_7.end, last_30.end))
        .group_by(a.course_id))
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def course_days(conn: Connection, course_id: uuid.UUID, period: Period) -> dict[date, tuple[int, int]]:
    """(enrolled, completed) per day of ``period`` that has a course_daily row (its primary key)."""
    d = t.course_daily.c
    rows = conn.execute(select(d.day, d.enrolled, d.completed)
                        .where(d.course_id == course_id, d.day >= period.start, d.day <= period.end))
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def funnel_inputs(conn: Connection, course_id: uuid.UUID) -> tuple[list[ModuleInfo], dict[Any, dict[int, int]]]:
    """The course's modules and, per module, how many learners (with any progress in it) have n assets at 100 %.

    One statement: the module roll-up by (course_id, module_id) (its index), grouped per count.
    """
    mp = t.module_progress.c
    histogram = (select(mp.module_id, mp.assets_completed.label("done"), func.count().label("learners"))
                 .where(mp.course_id == course_id)
                 .group_by(mp.module_id, mp.assets_completed).subquery())
    m = t.modules.c
    rows = conn.execute(
        select(m.module_id, m.title, m.order_index, m.asset_count, histogram.c.done, histogram.c.learners)
        .select_from(t.modules.outerjoin(histogram, histogram.c.module_id == m.module_id))
        .where(m.course_id == course_id))
    modules: dict[Any, ModuleInfo] = {}
    counts: dict[Any, dict[int, int]] = defaultdict(dict)
    for module_id, title, order_index, asset_count, done, learners in rows:
        modules[module_id] = ModuleInfo(module_id, title, int(order_index), int(asset_count))
        if done is not None:
            counts[module_id][int(done)] = int(learners)
    return list(modules.values()), dict(counts)


# --- the course's learners ------------------------------------------------------------------------------------


def learner_totals(conn: Connection, course_id: uuid.UUID) -> tuple[int, Decimal, int]:
    """(enrollments, their percent sum, their time sum) over every enrollment of the course."""
    e = t.enrollments.c
    row = conn.execute(select(func.count(), func.coalesce(func.sum(e.percent_complete), 0),
                              func.coalesce(func.sum(e.time_spent_seconds), 0))
                       .where(e.course_id == course_id)).one()
    return int(row[0]), Decimal(row[1]), int(row[2])


def learners_page(conn: Connection, course_id: uuid.UUID, limit: int, offset: int) -> list[dict[str, Any]]:
    """One page of the course's learners, most recently active first (never active last), then by user id."""
    e = t.enrollments.c
    rows = conn.execute(
        select(e.user_id, t.users.c.full_name, e.status, e.percent_complete, e.time_spent_seconds,
               e.last_activity_at)
        .select_from(t.enrollments.outerjoin(t.users, t.users.c.user_id == e.user_id))
        .where(e.course_id == course_id)
        .order_by(e.last_activity_at.desc().nulls_last(), e.user_id)
        .limit(limit).offset(offset))
    return [dict(r._mapping) for r in rows]


# --- one learner ----------------------------------------------------------------------------------------------


def learner_courses(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The learner's enrollments with the course's title and, for a non-dropped one, its cohort: the course's
    non-dropped enrollments and how many of the others are below the learner (ix (course_id, status))."""
    e = t.enrollments.c
    other = t.enrollments.alias("other")
    o = other.c
    cohort = (select(func.count().label("cohort_size"),
                     func.count().filter(o.percent_complete < e.percent_complete,
                                         o.enrollment_id != e.enrollment_id).label("below"))
              .where(o.course_id == e.course_id, o.status.in_((ACTIVE, COMPLETED)))
              .lateral("cohort"))
    rows = conn.execute(
        select(e.course_id, t.courses.c.title, e.status, e.percent_complete, e.time_spent_seconds,
               e.last_activity_at, e.enrolled_at, cohort.c.cohort_size, cohort.c.below)
        .select_from(t.enrollments.outerjoin(t.courses, t.courses.c.course_id == e.course_id)
                     .outerjoin(cohort, e.status != DROPPED))
        .where(e.user_id == user_id)
        .order_by(e.last_activity_at.desc().nulls_last(), e.enrolled_at.desc(), e.course_id))
    return [dict(r._mapping) for r in rows]


def activity_days_of(conn: Connection, user_id: uuid.UUID, today: date) -> list[date]:
    """The learner's active days up to today, newest first (primary key (user_id, day), backwards)."""
    u = t.user_activity_days.c
    rows = conn.execute(select(u.day).where(u.user_id == user_id, u.day <= today,
                                            u.day > today - timedelta(days=STREAK_LOOKBACK_DAYS))
                        .order_by(u.day.desc()))
    return [r[0] for r in rows]


# --- at risk --------------------------------------------------------------------------------------------------


def cohort_percents(conn: Connection, course_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Decimal]]:
    """Per course: the course percent of each non-dropped enrollment (the cohort of the at-risk rule)."""
    if not course_ids:
        return {}
    e = t.enrollments.c
    rows = conn.execute(select(e.course_id, func.array_agg(e.percent_complete))
                        .where(e.course_id.in_(course_ids), e.status.in_((ACTIVE, COMPLETED)))
                        .group_by(e.course_id))
    return {r[0]: list(r[1] or ()) for r in rows}


def at_risk_candidates(conn: Connection, course_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """Every started active enrollment of the courses, with what the rules need: the current module (title,
    asset count, first progress on it, assets done: module_progress by its primary key) and the last nudge
    (ix nudges (user_id, course_id))."""
    if not course_ids:
        return []
    e = t.enrollments.c
    mp = t.module_progress.c
    m = t.modules.c
    n = t.nudges.c
    module_work = (select(mp.first_progress_at.label("module_started_at"), mp.assets_completed.label("module_done"))
                   .where(mp.enrollment_id == e.enrollment_id, mp.module_id == e.current_module_id)
                   .lateral("module_work"))
    last_nudge = (select(n.sent_at.label("nudge_sent_at"), n.returned_at.label("nudge_returned_at"))
                  .where(n.user_id == e.user_id, n.course_id == e.course_id)
                  .order_by(n.sent_at.desc()).limit(1).lateral("last_nudge"))
    rows = conn.execute(
        select(e.course_id, e.user_id, t.users.c.full_name, e.status, e.progress_events, e.percent_complete,
               e.last_activity_at, m.title.label("module_title"), m.asset_count.label("module_asset_count"),
               module_work.c.module_started_at, module_work.c.module_done,
               last_nudge.c.nudge_sent_at, last_nudge.c.nudge_returned_at)
        .select_from(t.enrollments
                     .outerjoin(t.users, t.users.c.user_id == e.user_id)
                     .outerjoin(t.modules, m.module_id == e.current_module_id)
                     .outerjoin(module_work, true())
                     .outerjoin(last_nudge, true()))
        .where(e.course_id.in_(course_ids), e.status == ACTIVE, e.progress_events > 0)
        .order_by(e.last_activity_at.asc().nulls_first(), e.user_id))
    return [dict(r._mapping) for r in rows]


def nudge_summary(conn: Connection, course_id: uuid.UUID) -> tuple[int, int]:
    """(nudges sent, nudges answered) of the course (ix nudges (course_id, user_id, sent_on))."""
    n = t.nudges.c
    row = conn.execute(select(func.count(), func.count(n.returned_at)).where(n.course_id == course_id)).one()
    return int(row[0]), int(row[1])


# --- nudging --------------------------------------------------------------------------------------------------


def active_enrollees(conn: Connection, course_id: uuid.UUID, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``user_ids`` hold an active enrollment of the course (ix (course_id, status))."""
    e = t.enrollments.c
    rows = conn.execute(select(e.user_id).where(e.course_id == course_id, e.status == ACTIVE,
                                                e.user_id.in_(user_ids)))
    return {r[0] for r in rows}


def insert_nudges(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[uuid.UUID, uuid.UUID]:
    """Record the nudges that are the first of their (course, learner, day); {user_id: nudge_id} of those."""
    if not rows:
        return {}
    n = t.nudges.c
    stmt = (insert(t.nudges).values(list(rows))
            .on_conflict_do_nothing(index_elements=[n.course_id, n.user_id, n.sent_on])
            .returning(n.user_id, n.nudge_id))
    return {r[0]: r[1] for r in conn.execute(stmt)}


# --- the platform ---------------------------------------------------------------------------------------------


def user_counts(conn: Connection) -> tuple[int, dict[str, int]]:
    """(registered users, registered users per role)."""
    u = t.users.c
    total = int(conn.execute(select(func.count()).where(u.registered_at.is_not(None))).scalar_one())
    role = func.jsonb_array_elements_text(u.roles).table_valued("value").alias("role")
    rows = conn.execute(select(role.c.value, func.count()).select_from(t.users).join(role, true())
                        .where(u.registered_at.is_not(None)).group_by(role.c.value))
    return total, {str(r[0]): int(r[1]) for r in rows}


def active_users(conn: Connection, day: Period, week: Period, month: Period) -> tuple[int, int, int]:
    """Distinct users active on ``day``, in ``week`` and in ``month`` (ix user_activity_days (day))."""
    u = t.user_activity_days.c
    row = conn.execute(
        select(func.count(u.user_id.distinct()).filter(u.day >= day.start, u.day <= day.end),
               func.count(u.user_id.distinct()).filter(u.day >= week.start, u.day <= week.end),
               func.count(u.user_id.distinct()))
        .where(u.day >= month.start, u.day <= month.end)).one()
    return int(row[0]), int(row[1]), int(row[2])


def first_platform_day(conn: Connection) -> date | None:
    """The first day any course has a course_daily row (ix course_daily (day))."""
    return conn.execute(select(func.min(t.course_daily.c.day))).scalar_one_or_none()


def platform_days(conn: Connection, period: Period) -> dict[date, tuple[int, int]]:
    """(enrollments, completions) summed over every course, per day of ``period`` that has any."""
    d = t.course_daily.c
    rows = conn.execute(select(d.day, func.sum(d.enrolled), func.sum(d.completed))
                        .where(d.day >= period.start, d.day <= period.end).group_by(d.day))
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def top_courses(conn: Connection, period: Period, limit: int) -> list[dict[str, Any]]:
    """The courses with the most enrollments in ``period`` (then the most completions, then by id), with title."""
    d = t.course_daily.c
    enrolled = func.sum(d.enrolled).label("enrollments")
    completed = func.sum(d.completed).label("completions")
    ranked = (select(d.course_id, enrolled, completed)
              .where(d.day >= period.start, d.day <= period.end).group_by(d.course_id)
              .having(func.sum(d.enrolled) > 0)
              .order_by(enrolled.desc(), completed.desc(), d.course_id).limit(limit).subquery())
    rows = conn.execute(
        select(ranked.c.course_id, t.courses.c.title, ranked.c.enrollments, ranked.c.completions)
        .select_from(ranked.outerjoin(t.courses, t.courses.c.course_id == ranked.c.course_id))
        .order_by(ranked.c.enrollments.desc(), ranked.c.completions.desc(), ranked.c.course_id))
    return [dict(r._mapping) for r in rows]

