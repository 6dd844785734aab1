"""The analytics figures' definitions (domain.md "Analytics"), as pure functions over what the queries return.

The SQL in ``queries`` only counts, sums and selects rows by index; every rule that decides what a figure
means (what a period is, which learners are active, when a module counts as completed, how a median or a
percentile is taken) lives here, so that a unit test fails when a definition changes. No I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from smartcourse.errors import ValidationFailed

Number = int | float | Decimal

# A period longer than two years is refused: the daily series would outgrow a response, and nothing asks for it.
MAX_PERIOD_DAYS = 731
# Dates the API accepts: far enough from date.min/max that day arithmetic (windows, the day after) never overflows.
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(9999, 12, 30)
ACTIVE_WINDOWS_DAYS = (7, 30)
# A learner's percentile is shown only in cohorts of at least this many learners (domain.md).
PERCENTILE_MIN_COHORT = 10
SECONDS_PER_DAY = 86_400


class InvalidPeriod(ValidationFailed):
    """A period the API refuses (422): ``field`` is the query parameter at fault (``from`` or ``to``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, [{"loc": ["query", field], "msg": message, "type": "value_error"}])
        self.field = field


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def resolve_period(period_from: date | None, period_to: date | None, *, today: date,
                   first_day: date | None) -> Period:
    """The period a figure covers: ``to`` defaults to today; ``from`` to ``first_day`` (the course's first
    enrollment day, or its creation day), or to ``to`` when there is none.

    A default ``from`` never lies after ``to`` and never makes the period longer than ``MAX_PERIOD_DAYS`` (it is
    moved up); explicit dates that do are refused, as are dates outside ``MIN_DATE``..``MAX_DATE``.
    """
    for field, value in (("from", period_from), ("to", period_to)):
        if value is not None and not MIN_DATE <= value <= MAX_DATE:
            raise InvalidPeriod(field, f"must lie between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}")
    end = period_to or today
    if period_from is None:
        start = min(first_day or end, end)
        start = max(start, end - timedelta(days=MAX_PERIOD_DAYS - 1), MIN_DATE)
    else:
        start = period_from
    if start > end:
        raise InvalidPeriod("from", "must not be after 'to'")
    problem = period_problem(start, end)
    if problem:
        raise InvalidPeriod("from", problem)
    return Period(start, end)


def period_problem(start: date, end: date) -> str | None:
    """Why a period (however its ends were chosen) is one the figures cannot cover, or None."""
    if start < MIN_DATE:
        return f"the period may not start before {MIN_DATE.isoformat()}"
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        return f"the period may span at most {MAX_PERIOD_DAYS} days"
    return None


def window(end: date, days: int) -> Period:
    """The ``days`` days ending at ``end`` (included): "last 7 days" of 2026-03-10 is 03-04..03-10."""
    return Period(end - timedelta(days=days - 1), end)


def completion_rate(completed: int, total: int) -> float:
    """Completed enrollments ÷ all enrollments (dropped included), 0..1; 0 when there are none."""
    if total <= 0:
        return 0.0
    return round(completed / total, 4)


def average_progress(percent_sum: Number, count: int) -> float:
    """The mean of the enrollments' course percent (0..100); 0 when there are none."""
    if count <= 0:
        return 0.0
    return round(float(percent_sum) / count, 2)


def mean_seconds(seconds_sum: Number, count: int) -> int:
    """The mean time spent, in whole seconds; 0 when there is nobody to average."""
    if count <= 0:
        return 0
    return round(float(seconds_sum) / count)


def median(values: Iterable[Number]) -> float | None:
    """The median (the mean of the two middle values for an even count); None for no values."""
    data = [float(v) for v in values]
    if not data:
        return None
    return float(statistics.median(data))


def median_days_to_complete(durations_seconds: Iterable[Number]) -> float | None:
    """The median of (completed_at - enrolled_at) in days (2 decimals) over completed enrollments; None when none."""
    middle = median(durations_seconds)
    return None if middle is None else round(middle / SECONDS_PER_DAY, 2)


def daily_series(period: Period, rows: Mapping[date, tuple[int, int]]) -> list[dict[str, object]]:
    """One entry per day of ``period``, in order: ``rows`` gives (enrolled, completed) of the days that have any;
    the others are zeros."""
    out: list[dict[str, object]] = []
    for offset in range(period.days):
        day = period.start + timedelta(days=offset)
        enrolled, completed = rows.get(day, (0, 0))
        out.append({"date": day.isoformat(), "enrolled": int(enrolled), "completed": int(completed)})
    return out


def module_completed(completed_assets: int, asset_count: int) -> bool:
    """A learner completed a module when every asset of it is at 100 % (at least ``asset_count`` of them).

    An empty module is never "completed": nobody can start it either, and a funnel step of 0 → n would mislead.
    """
    return asset_count > 0 and completed_assets >= asset_count


@dataclass(frozen=True)
class ModuleInfo:
    module_id: Any
    title: str
    order_index: int
    asset_count: int


def module_funnel(modules: Sequence[ModuleInfo],
                  histogram: Mapping[Any, Mapping[int, int]]) -> list[dict[str, object]]:
    """Every module in ``order_index`` order with started / completed learners.

    ``histogram[module_id][n]`` = how many learners have any progress in the module and exactly ``n`` of its
    assets at 100 %. Started = all of them; completed = those for whom ``module_completed`` holds.
    """
    out: list[dict[str, object]] = []
    for module in sorted(modules, key=lambda m: (m.order_index, str(m.module_id))):
        counts = histogram.get(module.module_id, {})
        out.append({
            "module_id": module.module_id,
            "title": module.title,
            "order_index": module.order_index,
            "started": sum(counts.values()),
            "completed": sum(n for done, n in counts.items() if module_completed(done, module.asset_count)),
        })
    return out


def percentile(below: int, cohort_size: int, *, in_cohort: bool = True) -> int | None:
    """The share (0..100, rounded) of the course's *other* learners whose course percent is below the caller's.

    ``cohort_size`` counts the course's learners (enrollments not dropped), the caller included when
    ``in_cohort``; ``below`` counts the others below the caller. None in cohorts under ``PERCENTILE_MIN_COHORT``
    and for a caller outside the cohort (a dropped enrollment is compared with nobody).
    """
    if not in_cohort or cohort_size < PERCENTILE_MIN_COHORT:
        return None
    others = cohort_size - 1
    return round(100 * below / others)


def streak_days(active_days: Iterable[date], today: date) -> int:
    """Consecutive days with activity ending today, or yesterday when today has none yet (UTC); else 0."""
    days = set(active_days)
    cursor = today if today in days else today - timedelta(days=1)
    streak = 0
    while cursor in days:
        streak += 1
        cursor -= timedelta(days=1)
    return streak


def to_day(moment: datetime) -> date:
    """The UTC day of an aware timestamp (the days of activity_days and course_daily are UTC days)."""
    return moment.astimezone(UTC).date()
