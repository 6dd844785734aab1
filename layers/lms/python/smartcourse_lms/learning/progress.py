"""Learner progress: merging updates, course and module percentages, completion. Pure: ``now`` is passed in."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from smartcourse.errors import ValidationFailed

from smartcourse_lms.learning.enrollments import EnrollmentStatus

A = TypeVar("A", bound=Hashable)
M = TypeVar("M", bound=Hashable)

COMPLETE = 100.0


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {msg}", [{"loc": ["body", field], "msg": msg, "type": "value_error"}])


@dataclass(frozen=True)
class ProgressUpdate:
    progress_percent: float | None = None  # None: only time spent (or is_completed) is reported
    is_completed: bool = False
    time_spent_seconds: int = 0

    def __post_init__(self) -> None:
        percent = self.progress_percent
        if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int | float)
                                    or not math.isfinite(percent) or not 0 <= percent <= COMPLETE):
            raise _invalid("progress_percent", "must be a number from 0 to 100")
        seconds = self.time_spent_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise _invalid("time_spent_seconds", "must be a whole number of seconds, at least 0")


@dataclass(frozen=True)
class AssetProgress:
    progress_percent: float
    time_spent_seconds: int
    started_at: datetime
    completed_at: datetime | None

    @property
    def is_completed(self) -> bool:
        return self.progress_percent >= COMPLETE


def merge_progress(previous: AssetProgress | None, update: ProgressUpdate, now: datetime) -> AssetProgress:
    """Progress never goes down (late or replayed updates are harmless), time adds up, and
    ``completed_at`` keeps the moment 100 was first reached."""
    before = previous.progress_percent if previous else 0.0
    reported = COMPLETE if update.is_completed else (update.progress_percent or 0.0)
    percent = max(before, float(reported))
    completed_at = previous.completed_at if previous else None
    if percent >= COMPLETE and completed_at is None:
        completed_at = now
    return AssetProgress(
        progress_percent=percent,
        time_spent_seconds=(previous.time_spent_seconds if previous else 0) + update.time_spent_seconds,
        started_at=previous.started_at if previous else now,
        completed_at=completed_at,
    )


def percent_of(completed: int, total: int) -> float:
    """completed / total * 100, rounded half-up to 2 decimals (0 when there is nothing to complete)."""
    if total <= 0:
        return 0.0
    exact = Decimal(min(completed, total)) * 100 / Decimal(total)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class CourseProgressSummary:
    percent_complete: float
    completed_assets: int
    total_assets: int
    modules: dict[object, float]


def summarise(modules: Mapping[M, Sequence[A]], completed_asset_ids: AbstractSet[A]) -> CourseProgressSummary:
    """Course and module percentages over the assets the course has *now*.

    Completions of assets that no longer exist are ignored; they are not part of the course any more.
    """
    total = done = 0
    module_percents: dict[object, float] = {}
    for module_id, asset_ids in modules.items():
        module_done = sum(1 for asset_id in asset_ids if asset_id in completed_asset_ids)
        module_percents[module_id] = percent_of(module_done, len(asset_ids))
        total += len(asset_ids)
        done += module_done
    return CourseProgressSummary(percent_of(done, total), done, total, module_percents)


def completes_course(previous_status: EnrollmentStatus, percent: float) -> bool:
    """True exactly once: when an active enrollment first reaches 100 %.

    A completed enrollment stays completed (and keeps its certificate) whatever happens to the percent
    later; a dropped one has to be reactivated before it can complete.
    """
    return previous_status is EnrollmentStatus.ACTIVE and percent >= COMPLETE


def status_after_progress(previous_status: EnrollmentStatus, percent: float) -> EnrollmentStatus:
    return EnrollmentStatus.COMPLETED if completes_course(previous_status, percent) else previous_status
