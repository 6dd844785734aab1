"""The analytics routes' bodies, composed from ``queries`` (what is stored) and ``metrics`` / ``at_risk`` (what
it means). No authorization here (``service`` decides who may ask): the report builder uses the same figures.

Every function returns exactly the JSON body of its route in api.md, JSON-ready: ids and dates as strings,
timestamps as ISO-8601 in UTC, percents and rates as floats.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from smartcourse.errors import NotFound
from smartcourse.principal import Role
from sqlalchemy import Connection

from smartcourse_analytics import queries
from smartcourse_analytics.at_risk import LearnerState, cohort_median, nudge_returned, risk_reasons
from smartcourse_analytics.domain import EnrollmentStatus
from smartcourse_analytics.metrics import (
    ACTIVE_WINDOWS_DAYS,
    average_progress,
    completion_rate,
    daily_series,
    mean_seconds,
    median_days_to_complete,
    module_funnel,
    percentile,
    resolve_period,
    streak_days,
    to_day,
    window,
)
from smartcourse_analytics.queries import CourseRow, EnrollmentTotals

COURSE_NOT_FOUND = "Course not found"
TOP_COURSES = 10


def utc_today() -> date:
    return datetime.now(UTC).date()


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _pct(value: Decimal | float | None) -> float:
    return round(float(value or 0), 2)


def _course(conn: Connection, course_id: uuid.UUID, known: CourseRow | None) -> CourseRow:
    row = known if known is not None and known.course_id == course_id else queries.course(conn, course_id)
    if row is None:
        raise NotFound(COURSE_NOT_FOUND)
    return row


def _enrollments(totals: EnrollmentTotals) -> dict[str, int]:
    return {"total": totals.total, "active": totals.active, "completed": totals.completed,
            "dropped": totals.dropped}


def _active(counts: tuple[int, int]) -> dict[str, int]:
    return {"last_7_days": counts[0], "last_30_days": counts[1]}


# --- course -----------------------------------------------------------------------------------------------------


def course_analytics(conn: Connection, course_id: uuid.UUID, period_from: date | None, period_to: date | None,
                     today: date | None = None, *, known: CourseRow | None = None) -> dict[str, Any]:
    """GET /analytics/courses/{id}: the period's enrollments and their outcome, activity, and the module funnel.

    The period defaults to the course's first enrollment day (or its creation day) .. today; active learners
    are counted in the 7 and 30 days ending at the period's end. Raises ``metrics.InvalidPeriod`` (422) and
    ``NotFound``.
    """
    row = _course(conn, course_id, known)
    first = row.first_enrolled_at or row.created_at
    period = resolve_period(period_from, period_to, today=today or utc_today(),
                            first_day=to_day(first) if first else None)
    totals = queries.enrollment_totals(conn, [course_id], period, with_durations=True).get(
        course_id, EnrollmentTotals())
    week, month = (window(period.end, days) for days in ACTIVE_WINDOWS_DAYS)
    active = queries.active_learners(conn, [course_id], week, month).get(course_id, (0, 0))
    modules, histogram = queries.funnel_inputs(conn, course_id)
    return {
        "course_id": str(course_id),
        "title": row.title,
        "period": period.as_dict(),
        "enrollments": _enrollments(totals),
        "completion_rate": completion_rate(totals.completed, totals.total),
        "average_progress": average_progress(totals.percent_sum, totals.total),
        "median_days_to_complete": median_days_to_complete(totals.completion_seconds),
        "active_learners": _active(active),
        "enrollments_over_time": daily_series(period, queries.course_days(conn, course_id, period)),
        "funnel": [{**step, "module_id": str(step["module_id"])} for step in module_funnel(modules, histogram)],
    }


def _learner_item(row: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": str(row["user_id"]), "full_name": row["full_name"], "status": row["status"],
            "percent_complete": _pct(row["percent_complete"]),
            "time_spent_seconds": int(row["time_spent_seconds"]), "last_activity_at": iso(row["last_activity_at"])}


def course_learners(conn: Connection, course_id: uuid.UUID, limit: int, offset: int, *,
                    known: CourseRow | None = None) -> dict[str, Any]:
    """GET /analytics/courses/{id}/learners: one page of the course's learners and the course's averages over
    all of its enrollments (dropped included, as average_progress)."""
    _course(conn, course_id, known)
    total, percent_sum, seconds_sum = queries.learner_totals(conn, course_id)
    rows = queries.learners_page(conn, course_id, limit, offset) if offset < total else []
    return {
        "items": [_learner_item(r) for r in rows],
        "course_average": {"percent_complete": average_progress(percent_sum, total),
                           "time_spent_seconds": mean_seconds(seconds_sum, total)},
        "total": total, "limit": limit, "offset": offset,
    }


# --- at risk ----------------------------------------------------------------------------------------------------


def _state(row: dict[str, Any]) -> LearnerState:
    return LearnerState(
        status=row["status"], progress_events=int(row["progress_events"]),
        percent_complete=float(row["percent_complete"]), last_activity_at=row["last_activity_at"],
        current_module_title=row["module_title"], current_module_started_at=row["module_started_at"],
        current_module_done_assets=int(row["module_done"] or 0),
        current_module_asset_count=int(row["module_asset_count"] or 0))


def _last_nudge(row: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    sent_at = row["nudge_sent_at"]
    if sent_at is None:
        return None
    return {"sent_at": iso(sent_at), "returned_within_7_days": nudge_returned(sent_at, row["nudge_returned_at"], now)}


def at_risk_items(conn: Connection, course_ids: Sequence[uuid.UUID], now: datetime) -> dict[uuid.UUID, list[dict]]:
    """Per course: its learners at risk at ``now``, each with the reasons that flagged them and their last nudge
    (least recently active first). Two statements for any number of courses."""
    medians = {cid: cohort_median(p) for cid, p in queries.cohort_percents(conn, course_ids).items()}
    out: dict[uuid.UUID, list[dict]] = {cid: [] for cid in course_ids}
    for row in queries.at_risk_candidates(conn, course_ids):
        reasons = risk_reasons(_state(row), medians.get(row["course_id"]), now)
        if reasons:
            out[row["course_id"]].append({
                "user_id": str(row["user_id"]), "full_name": row["full_name"],
                "percent_complete": _pct(row["percent_complete"]), "last_activity_at": iso(row["last_activity_at"]),
                "reasons": [r.as_dict() for r in reasons], "last_nudge": _last_nudge(row, now)})
    return out


def at_risk(conn: Connection, course_id: uuid.UUID, now: datetime, *,
            known: CourseRow | None = None) -> dict[str, Any]:
    """GET /analytics/courses/{id}/at-risk: the learners at risk and the course's nudges (sent, answered)."""
    _course(conn, course_id, known)
    sent, returned = queries.nudge_summary(conn, course_id)
    return {"items": at_risk_items(conn, [course_id], now)[course_id],
            "nudges": {"sent": sent, "returned_within_7_days": returned}}


# --- instructor -------------------------------------------------------------------------------------------------


def instructor_overview(conn: Connection, instructor_id: uuid.UUID, now: datetime | None = None) -> dict[str, Any]:
    """GET /analytics/instructors/me: each of the instructor's courses with its all-time headline figures,
    active learners of the 7 / 30 days ending today and how many learners are at risk now."""
    now = now or datetime.now(UTC)
    courses = queries.courses_of_instructor(conn, instructor_id)
    ids = [c.course_id for c in courses]
    totals = queries.enrollment_totals(conn, ids)
    week, month = (window(to_day(now), days) for days in ACTIVE_WINDOWS_DAYS)
    active = queries.active_learners(conn, ids, week, month)
    risky = at_risk_items(conn, ids, now) if ids else {}
    items = []
    for c in courses:
        total = totals.get(c.course_id, EnrollmentTotals())
        items.append({
            "course_id": str(c.course_id), "title": c.title, "status": c.status,
            "enrollments": _enrollments(total),
            "completion_rate": completion_rate(total.completed, total.total),
            "average_progress": average_progress(total.percent_sum, total.total),
            "active_learners": _active(active.get(c.course_id, (0, 0))),
            "at_risk": len(risky.get(c.course_id, [])),
        })
    return {"items": items}


# --- the learner ------------------------------------------------------------------------------------------------


def learner_progress(conn: Connection, user_id: uuid.UUID, today: date | None = None) -> dict[str, Any]:
    """GET /analytics/me/progress: the learner's courses, totals, streak and (in cohorts of ≥ 10) percentiles.

    ``enrolled`` counts the enrollments not dropped; ``time_spent_seconds`` all time spent, dropped courses
    included."""
    today = today or utc_today()
    rows = queries.learner_courses(conn, user_id)
    courses = []
    for r in rows:
        item: dict[str, Any] = {
            "course_id": str(r["course_id"]), "title": r["title"], "status": r["status"],
            "percent_complete": _pct(r["percent_complete"]), "time_spent_seconds": int(r["time_spent_seconds"]),
            "last_activity_at": iso(r["last_activity_at"]),
        }
        rank = percentile(int(r["below"] or 0), int(r["cohort_size"] or 0),
                          in_cohort=r["status"] != EnrollmentStatus.DROPPED)
        if rank is not None:
            item["percentile"] = rank
        courses.append(item)
    return {
        "enrolled": sum(1 for r in rows if r["status"] != EnrollmentStatus.DROPPED),
        "completed": sum(1 for r in rows if r["status"] == EnrollmentStatus.COMPLETED),
        "time_spent_seconds": sum(int(r["time_spent_seconds"]) for r in rows),
        "streak_days": streak_days(queries.activity_days_of(conn, user_id, today), today),
        "courses": courses,
    }


# --- platform ---------------------------------------------------------------------------------------------------


def platform_overview(conn: Connection, period_from: date | None, period_to: date | None,
                      today: date | None = None) -> dict[str, Any]:
    """GET /analytics/platform: registered users (by role), DAU / WAU / MAU ending at the period's end,
    enrollments and completions per day, and the period's top courses.

    The period defaults to the first day any course had an enrollment or activity .. today. A top course's
    ``enrollments`` and ``completions`` are the period's daily sums (as the per-day series); its
    ``completion_rate`` is the course analytics' one for the same period (completed ÷ enrolled in it).
    """
    period = resolve_period(period_from, period_to, today=today or utc_today(),
                            first_day=queries.first_platform_day(conn))
    total, by_role = queries.user_counts(conn)
    dau, wau, mau = queries.active_users(conn, window(period.end, 1), window(period.end, 7), window(period.end, 30))
    top = queries.top_courses(conn, period, TOP_COURSES)
    rates = queries.enrollment_totals(conn, [r["course_id"] for r in top], period)
    return {
        "period": period.as_dict(),
        # Every role is listed, with 0 when nobody holds it (a chart or a CSV column never goes missing).
        "users": {"total": total, "by_role": {**{role.value: 0 for role in Role}, **by_role}},
        "dau": dau, "wau": wau, "mau": mau,
        "enrollments_over_time": daily_series(period, queries.platform_days(conn, period)),
        "top_courses": [{
            "course_id": str(r["course_id"]), "title": r["title"], "enrollments": int(r["enrollments"]),
            "completions": int(r["completions"]),
            "completion_rate": completion_rate(rates.get(r["course_id"], EnrollmentTotals()).completed,
                                               rates.get(r["course_id"], EnrollmentTotals()).total),
        } for r in top],
    }
