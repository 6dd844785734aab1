"""Progress merging, percentages and course completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smartcourse.errors import ValidationFailed
from smartcourse_lms.learning.enrollments import EnrollmentStatus
from smartcourse_lms.learning.progress import (
    AssetProgress,
    ProgressUpdate,
    completes_course,
    merge_progress,
    percent_of,
    status_after_progress,
    summarise,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def test_first_update_starts_progress() -> None:
    progress = merge_progress(None, ProgressUpdate(40, time_spent_seconds=30), NOW)
    assert progress == AssetProgress(40.0, 30, NOW, None)
    assert not progress.is_completed


def test_progress_never_goes_down_and_time_accumulates() -> None:
    first = merge_progress(None, ProgressUpdate(60, time_spent_seconds=100), at(0))
    second = merge_progress(first, ProgressUpdate(20, time_spent_seconds=50), at(5))
    assert second.progress_percent == 60 and second.time_spent_seconds == 150 and second.started_at == at(0)


def test_is_completed_means_100_and_completed_at_is_set_once() -> None:
    done = merge_progress(merge_progress(None, ProgressUpdate(10), at(0)), ProgressUpdate(30, is_completed=True),
                          at(1))
    assert done.progress_percent == 100 and done.completed_at == at(1) and done.is_completed
    again = merge_progress(done, ProgressUpdate(100, time_spent_seconds=5), at(9))
    assert again.completed_at == at(1) and again.time_spent_seconds == 5
    assert merge_progress(None, ProgressUpdate(100), at(2)).completed_at == at(2)


def test_update_without_percent_keeps_progress() -> None:
    first = merge_progress(None, ProgressUpdate(70), at(0))
    assert merge_progress(first, ProgressUpdate(time_spent_seconds=9), at(1)).progress_percent == 70


@pytest.mark.parametrize("percent", [-0.01, 100.01, float("nan"), float("inf"), True, "50"])
def test_percent_must_be_0_to_100(percent: object) -> None:
    with pytest.raises(ValidationFailed):
        ProgressUpdate(percent)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [-1, 1.5, True])
def test_time_spent_must_be_non_negative_seconds(seconds: object) -> None:
    with pytest.raises(ValidationFailed):
        ProgressUpdate(10, time_spent_seconds=seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("percent", [0, 0.5, 99.99, 100])
def test_percent_bounds_are_inclusive(percent: float) -> None:
    assert ProgressUpdate(percent).progress_percent == percent


UPDATES = st.lists(st.builds(ProgressUpdate,
                             progress_percent=st.none() | st.floats(0, 100) | st.integers(0, 100),
                             is_completed=st.booleans(), time_spent_seconds=st.integers(0, 10_000)),
                   min_size=1, max_size=30)


@given(UPDATES)
def test_progress_never_decreases_under_any_sequence(updates: list[ProgressUpdate]) -> None:
    state: AssetProgress | None = None
    first_completed: datetime | None = None
    for minute, update in enumerate(updates):
        new = merge_progress(state, update, at(minute))
        assert 0 <= new.progress_percent <= 100
        if state is not None:
            assert new.progress_percent >= state.progress_percent
            assert new.time_spent_seconds == state.time_spent_seconds + update.time_spent_seconds
            assert new.started_at == state.started_at
        if update.is_completed:
            assert new.progress_percent == 100
        if new.completed_at is not None and first_completed is None:
            first_completed = new.completed_at
            assert first_completed == at(minute)
        assert new.completed_at == first_completed
        assert (new.completed_at is not None) is new.is_completed
        state = new
    assert state is not None
    assert state.time_spent_seconds == sum(u.time_spent_seconds for u in updates)


@pytest.mark.parametrize(("done", "total", "percent"),
                         [(0, 0, 0.0), (0, 3, 0.0), (1, 3, 33.33), (2, 3, 66.67), (3, 3, 100.0), (1, 32, 3.13),
                          (1, 8, 12.5), (5, 3, 100.0)])
def test_percent_of(done: int, total: int, percent: float) -> None:
    assert percent_of(done, total) == percent


def test_summary_over_modules() -> None:
    modules = {"m1": ["a1", "a2", "a3"], "m2": ["b1"], "empty": []}
    summary = summarise(modules, {"a1", "b1", "gone"})  # "gone": an asset deleted since
    assert summary.completed_assets == 2 and summary.total_assets == 4
    assert summary.percent_complete == 50.0
    assert summary.modules == {"m1": 33.33, "m2": 100.0, "empty": 0.0}
    assert summarise({}, set()).percent_complete == 0.0


def test_course_completes_the_first_time_it_reaches_100() -> None:
    assert completes_course(EnrollmentStatus.ACTIVE, 100.0)
    assert not completes_course(EnrollmentStatus.ACTIVE, 99.99)
    assert not completes_course(EnrollmentStatus.COMPLETED, 100.0)  # already done: no second certificate
    assert not completes_course(EnrollmentStatus.DROPPED, 100.0)


def test_completion_is_never_revoked() -> None:
    # Assets added later lower the percent; the enrollment stays completed.
    assert status_after_progress(EnrollmentStatus.COMPLETED, 50.0) is EnrollmentStatus.COMPLETED
    assert status_after_progress(EnrollmentStatus.ACTIVE, 100.0) is EnrollmentStatus.COMPLETED
    assert status_after_progress(EnrollmentStatus.ACTIVE, 80.0) is EnrollmentStatus.ACTIVE
