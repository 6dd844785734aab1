"""The at-risk rules (domain.md "Analytics"): explainable, each flag a reason with a code and a sentence. No I/O.

Only learners who started (an active enrollment with at least one progress event) are judged:

* ``inactive``: no activity for 7+ days (last activity at or before now - 7 days);
* ``behind_cohort``: course percent below half the cohort median, once that median passed 50 % (the cohort
  is the course's enrollments that are not dropped);
* ``stuck_on_module``: the module of their latest progress was first worked on 14+ days ago and is still
  not complete.

A nudge's outcome: returned (the consumer sets ``returned_at`` when the learner progresses within 7 days),
not returned once 7 days passed without, open (None) before that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from smartcourse_analytics.domain import EnrollmentStatus, RiskReason
from smartcourse_analytics.metrics import median, module_completed, to_day

INACTIVE_AFTER = timedelta(days=7)
STUCK_AFTER = timedelta(days=14)
COHORT_MEDIAN_THRESHOLD = 50.0  # behind_cohort applies once the cohort median is above this
NUDGE_RETURN_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Reason:
    code: RiskReason
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "detail": self.detail}


@dataclass(frozen=True)
class LearnerState:
    """What the rules look at for one enrollment."""

    status: str
    progress_events: int
    percent_complete: float
    last_activity_at: datetime | None
    current_module_title: str | None = None
    current_module_started_at: datetime | None = None  # first progress on the current module
    current_module_done_assets: int = 0
    current_module_asset_count: int = 0


def is_judged(state: LearnerState) -> bool:
    """Only started, active enrollments can be at risk (a completed or dropped one is settled)."""
    return state.status == EnrollmentStatus.ACTIVE and state.progress_events > 0


def cohort_median(percents: Iterable[float | Decimal]) -> float | None:
    """The median course percent of the cohort (the caller passes the non-dropped enrollments)."""
    return median(percents)


def _days(delta: timedelta) -> int:
    return max(delta.days, 0)


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def risk_reasons(state: LearnerState, median_percent: float | None, now: datetime) -> list[Reason]:
    """Every rule that flags ``state`` at ``now``, in a fixed order (inactive, behind_cohort, stuck_on_module)."""
    if not is_judged(state):
        return []
    reasons: list[Reason] = []
    last = state.last_activity_at
    if last is not None and last <= now - INACTIVE_AFTER:
        reasons.append(Reason(RiskReason.INACTIVE,
                              f"No activity for {_days(now - last)} days (last on {to_day(last).isoformat()})"))
    if (median_percent is not None and median_percent > COHORT_MEDIAN_THRESHOLD
            and state.percent_complete < median_percent / 2):
        reasons.append(Reason(RiskReason.BEHIND_COHORT,
                              f"At {_pct(state.percent_complete)} % while the cohort median is "
                              f"{_pct(median_percent)} %"))
    since = state.current_module_started_at
    # Only a module the course (as last published) still has: one it dropped cannot be finished, nor judged.
    known = state.current_module_title is not None and state.current_module_asset_count > 0
    if (known and since is not None and since <= now - STUCK_AFTER
            and not module_completed(state.current_module_done_assets, state.current_module_asset_count)):
        title = state.current_module_title
        reasons.append(Reason(RiskReason.STUCK_ON_MODULE,
                              f"On module \u201c{title}\u201d for {_days(now - since)} days without finishing it"))
    return reasons


def nudge_returned(sent_at: datetime, returned_at: datetime | None, now: datetime) -> bool | None:
    """True when the learner progressed within 7 days of the nudge, False once 7 days passed without, else None."""
    if returned_at is not None and returned_at <= sent_at + NUDGE_RETURN_WINDOW:
        return True
    if now >= sent_at + NUDGE_RETURN_WINDOW:
        return False
    return None
