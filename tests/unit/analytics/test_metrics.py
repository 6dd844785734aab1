"""Each analytics definition (domain.md "Analytics") pinned by a test that fails when the definition changes."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from smartcourse_analytics.metrics import (
    MAX_PERIOD_DAYS,
    InvalidPeriod,
    ModuleInfo,
    Period,
    average_progress,
    completion_rate,
    daily_series,
    mean_seconds,
    median,
    median_days_to_complete,
    module_completed,
    module_funnel,
    percentile,
    resolve_period,
    streak_days,
    window,
)

TODAY = date(2026, 3, 10)


# --- period -------------------------------------------------------------------------------------------------------


def test_period_defaults_to_first_day_until_today() -> None:
    assert resolve_period(None, None, today=TODAY, first_day=date(2026, 2, 1)) == Period(date(2026, 2, 1), TODAY)


def test_period_without_a_first_day_is_the_day_of_to() -> None:
    assert resolve_period(None, None, today=TODAY, first_day=None) == Period(TODAY, TODAY)
    assert resolve_period(None, date(2026, 1, 5), today=TODAY, first_day=None) == Period(date(2026, 1, 5),
                                                                                         date(2026, 1, 5))


def test_default_from_never_lies_after_an_explicit_to() -> None:
    period = resolve_period(None, date(2026, 1, 1), today=TODAY, first_day=date(2026, 2, 1))
    assert period == Period(date(2026, 1, 1), date(2026, 1, 1))


def test_default_from_is_moved_up_to_the_longest_period() -> None:
    period = resolve_period(None, None, today=TODAY, first_day=date(2020, 1, 1))
    assert period.end == TODAY and period.days == MAX_PERIOD_DAYS


def test_explicit_period_is_kept_both_ends_included() -> None:
    period = resolve_period(date(2026, 3, 1), date(2026, 3, 3), today=TODAY, first_day=None)
    assert (period.start, period.end, period.days) == (date(2026, 3, 1), date(2026, 3, 3), 3)
    assert period.as_dict() == {"from": "2026-03-01", "to": "2026-03-03"}


def test_from_after_to_is_refused_with_its_location() -> None:
    with pytest.raises(InvalidPeriod) as caught:
        resolve_period(date(2026, 3, 4), date(2026, 3, 3), today=TODAY, first_day=None)
    assert caught.value.field == "from"
    assert caught.value.problems == [{"loc": ["query", "from"], "msg": "must not be after 'to'",
                                      "type": "value_error"}]


def test_a_period_longer_than_the_cap_is_refused_one_day_less_is_not() -> None:
    end = date(2026, 3, 10)
    assert resolve_period(end - timedelta(days=MAX_PERIOD_DAYS - 1), end, today=TODAY, first_day=None).days == \
        MAX_PERIOD_DAYS
    with pytest.raises(InvalidPeriod):
        resolve_period(end - timedelta(days=MAX_PERIOD_DAYS), end, today=TODAY, first_day=None)


@pytest.mark.parametrize(("period_from", "period_to", "field"), [
    (date(1, 1, 1), None, "from"), (None, date(9999, 12, 31), "to"), (date(1969, 12, 31), date(1970, 1, 1), "from"),
])
def test_dates_beyond_the_supported_range_are_refused(period_from: date | None, period_to: date | None,
                                                      field: str) -> None:
    with pytest.raises(InvalidPeriod) as caught:
        resolve_period(period_from, period_to, today=TODAY, first_day=None)
    assert caught.value.field == field


def test_window_is_the_days_ending_at_end_included() -> None:
    assert window(TODAY, 7) == Period(date(2026, 3, 4), TODAY)
    assert window(TODAY, 30) == Period(date(2026, 2, 9), TODAY)
    assert window(TODAY, 1) == Period(TODAY, TODAY)


# --- enrollments ----------------------------------------------------------------------------------------------------


def test_completion_rate_is_completed_over_all_enrollments() -> None:
    # 1 completed of 5 enrollments, a dropped one among them: 0.2 (dropped count in the denominator).
    assert completion_rate(1, 5) == 0.2
    assert completion_rate(2, 3) == 0.6667
    assert completion_rate(0, 0) == 0.0


def test_average_progress_is_the_mean_course_percent() -> None:
    assert average_progress(Decimal("150.00"), 5) == 30.0
    assert average_progress(Decimal("25.00"), 3) == 8.33
    assert average_progress(0, 0) == 0.0


def test_mean_seconds_rounds_to_whole_seconds() -> None:
    assert mean_seconds(10, 4) == 2  # 2.5 → banker's rounding to the even 2
    assert mean_seconds(11, 4) == 3
    assert mean_seconds(0, 0) == 0


def test_median_takes_the_middle_or_the_mean_of_the_two_middles() -> None:
    assert median([3, 1, 2]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5
    assert median([]) is None


def test_median_days_to_complete_is_in_days_with_two_decimals() -> None:
    day = 86_400
    assert median_days_to_complete([10 * day, 2 * day, 3 * day + day / 2]) == 3.5
    assert median_days_to_complete([day / 3]) == 0.33
    assert median_days_to_complete([]) is None


def test_daily_series_has_every_day_with_zeros_for_days_without_rows() -> None:
    period = Period(date(2026, 3, 1), date(2026, 3, 3))
    series = daily_series(period, {date(2026, 3, 2): (4, 1), date(2026, 2, 28): (9, 9)})
    assert series == [{"date": "2026-03-01", "enrolled": 0, "completed": 0},
                      {"date": "2026-03-02", "enrolled": 4, "completed": 1},
                      {"date": "2026-03-03", "enrolled": 0, "completed": 0}]


# --- module funnel --------------------------------------------------------------------------------------------------


def test_a_module_is_completed_with_every_asset_at_100() -> None:
    assert module_completed(3, 3)
    assert module_completed(4, 3)  # an asset moved out later still counts: at least asset_count
    assert not module_completed(2, 3)
    assert not module_completed(0, 0)


def test_funnel_lists_every_module_in_order_with_started_and_completed() -> None:
    first, second, empty = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    modules = [ModuleInfo(second, "Two", 1, 1), ModuleInfo(empty, "Three", 2, 2), ModuleInfo(first, "One", 0, 2)]
    # module one: 2 learners with 0 assets done, 1 with 1, 3 with both; module two: 1 learner with its asset done
    histogram = {first: {0: 2, 1: 1, 2: 3}, second: {1: 1}}
    assert module_funnel(modules, histogram) == [
        {"module_id": first, "title": "One", "order_index": 0, "started": 6, "completed": 3},
        {"module_id": second, "title": "Two", "order_index": 1, "started": 1, "completed": 1},
        {"module_id": empty, "title": "Three", "order_index": 2, "started": 0, "completed": 0},
    ]


# --- the learner ----------------------------------------------------------------------------------------------------


def test_percentile_is_the_share_of_the_other_learners_below() -> None:
    # 11 learners: 3 of the 10 others are below → 30.
    assert percentile(3, 11) == 30
    assert percentile(0, 10) == 0
    assert percentile(9, 10) == 100
    assert percentile(2, 10) == 22  # 2 / 9 others = 22.2 → 22


def test_percentile_only_in_cohorts_of_ten_and_only_for_a_member() -> None:
    assert percentile(5, 9) is None
    assert percentile(5, 10) is not None
    assert percentile(5, 20, in_cohort=False) is None


def test_streak_counts_consecutive_days_ending_today_or_yesterday() -> None:
    days = [TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=2), TODAY - timedelta(days=4)]
    assert streak_days(days, TODAY) == 3
    assert streak_days(days[1:], TODAY) == 2  # nothing today yet: the streak ending yesterday still counts
    assert streak_days([TODAY - timedelta(days=2)], TODAY) == 0
    assert streak_days([], TODAY) == 0
