"""The at-risk rules and the nudge outcome (domain.md "Analytics"), each pinned at its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from smartcourse_analytics.at_risk import LearnerState, cohort_median, is_judged, nudge_returned, risk_reasons
from smartcourse_analytics.domain import RiskReason

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def state(**changes: object) -> LearnerState:
    base: dict[str, object] = {"status": "active", "progress_events": 3, "percent_complete": 40.0,
                               "last_activity_at": NOW - timedelta(hours=1), "current_module_title": "Loops",
                               "current_module_started_at": NOW - timedelta(days=1),
                               "current_module_done_assets": 0, "current_module_asset_count": 2}
    return LearnerState(**{**base, **changes})  # type: ignore[arg-type]


def codes(s: LearnerState, median: float | None = 40.0) -> list[RiskReason]:
    return [r.code for r in risk_reasons(s, median, NOW)]


def test_a_busy_learner_is_not_at_risk() -> None:
    assert codes(state()) == []


def test_inactive_from_exactly_seven_days() -> None:
    assert codes(state(last_activity_at=NOW - timedelta(days=7))) == [RiskReason.INACTIVE]
    assert codes(state(last_activity_at=NOW - timedelta(days=7) + timedelta(seconds=1))) == []
    detail = risk_reasons(state(last_activity_at=NOW - timedelta(days=9, hours=3)), 40.0, NOW)[0].detail
    assert detail == "No activity for 9 days (last on 2026-03-01)"


def test_behind_cohort_below_half_the_median_once_the_median_passed_fifty() -> None:
    assert codes(state(percent_complete=29.99), median=60.0) == [RiskReason.BEHIND_COHORT]
    assert codes(state(percent_complete=30.0), median=60.0) == []
    # A median of exactly 50 has not passed 50: nobody is behind yet.
    assert codes(state(percent_complete=0.0), median=50.0) == []
    assert codes(state(percent_complete=0.0), median=None) == []
    detail = risk_reasons(state(percent_complete=12.5), 64.0, NOW)[0].detail
    assert detail == "At 12.5 % while the cohort median is 64 %"


def test_a_module_the_course_no_longer_has_is_not_judged() -> None:
    gone = state(current_module_started_at=NOW - timedelta(days=30), current_module_done_assets=0,
                 current_module_title=None, current_module_asset_count=0)
    assert RiskReason.STUCK_ON_MODULE not in codes(gone)


def test_stuck_on_a_module_for_fourteen_days_without_finishing_it() -> None:
    stuck = state(current_module_started_at=NOW - timedelta(days=14), current_module_done_assets=1)
    assert codes(stuck) == [RiskReason.STUCK_ON_MODULE]
    assert risk_reasons(stuck, 40.0, NOW)[0].detail == "On module \u201cLoops\u201d for 14 days without finishing it"
    assert codes(state(current_module_started_at=NOW - timedelta(days=13, hours=23))) == []
    finished = state(current_module_started_at=NOW - timedelta(days=30), current_module_done_assets=2)
    assert codes(finished) == []


def test_every_reason_is_reported_in_a_fixed_order() -> None:
    s = state(last_activity_at=NOW - timedelta(days=10), percent_complete=5.0,
              current_module_started_at=NOW - timedelta(days=20))
    assert codes(s, median=80.0) == [RiskReason.INACTIVE, RiskReason.BEHIND_COHORT, RiskReason.STUCK_ON_MODULE]
    assert [r.as_dict()["code"] for r in risk_reasons(s, 80.0, NOW)] == ["inactive", "behind_cohort",
                                                                         "stuck_on_module"]


@pytest.mark.parametrize(("status", "events"), [("completed", 5), ("dropped", 5), ("active", 0)])
def test_only_started_active_enrollments_are_judged(status: str, events: int) -> None:
    s = state(status=status, progress_events=events, last_activity_at=NOW - timedelta(days=30))
    assert not is_judged(s)
    assert risk_reasons(s, 90.0, NOW) == []


def test_cohort_median_is_the_median_percent() -> None:
    assert cohort_median([5, 10, 60, 70, 80, 90, 90]) == 70.0
    assert cohort_median([]) is None


def test_nudge_outcome_returned_not_returned_or_open() -> None:
    sent = NOW - timedelta(days=3)
    assert nudge_returned(sent, sent + timedelta(days=1), NOW) is True
    assert nudge_returned(sent, None, NOW) is None
    old = NOW - timedelta(days=7)
    assert nudge_returned(old, None, NOW) is False
    assert nudge_returned(old, old + timedelta(days=8), NOW) is False  # back, but too late to count
