"""Folding progress events into roll-up rows: sums add, the latest reading wins, and the order never matters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from smartcourse_analytics.rollups import EnrollmentEvent, Folded, ProgressEvent, fold_enrollment_events, fold_progress

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENROLLMENTS = [uuid.UUID(int=i) for i in (1, 2)]
ASSETS = [(uuid.UUID(int=100 + m), uuid.UUID(int=200 + 10 * m + a)) for m in (1, 2) for a in (1, 2)]  # (module, asset)


def progress(enrollment: int, asset: int, percent: float, course_percent: float, minutes: int,
             seconds: int = 30) -> ProgressEvent:
    module_id, asset_id = ASSETS[asset]
    return ProgressEvent(
        event_id=uuid.uuid4(), enrollment_id=ENROLLMENTS[enrollment], user_id=uuid.UUID(int=300 + enrollment),
        course_id=uuid.UUID(int=400), module_id=module_id, asset_id=asset_id,
        progress_percent=Decimal(str(percent)), time_spent_delta=seconds,
        course_percent=Decimal(str(course_percent)), occurred_at=T0 + timedelta(minutes=minutes))


def canonical(folded: Folded) -> dict[str, Any]:
    return {
        "assets": sorted(tuple(sorted(vars(a).items())) for a in folded.assets),
        "enrollments": sorted(tuple(sorted(vars(e).items())) for e in folded.enrollments),
        "course_days": sorted(tuple(sorted(vars(d).items())) for d in folded.course_days),
        "activity": sorted(folded.activity_days), "user_activity": sorted(folded.user_activity_days),
    }


def test_sums_add_and_the_latest_reading_wins() -> None:
    events = [progress(0, 0, 50, 12.5, 0, 60), progress(0, 0, 100, 25, 10, 90), progress(0, 2, 30, 25, 5, 15)]
    folded = fold_progress(events)
    [enrollment] = folded.enrollments
    assert (enrollment.time_spent_seconds, enrollment.progress_events) == (165, 3)
    assert (enrollment.percent_complete, enrollment.current_module_id) == (Decimal("25"), ASSETS[0][0])
    assert (enrollment.first_activity_at, enrollment.last_activity_at) == (T0, T0 + timedelta(minutes=10))
    first = next(a for a in folded.assets if a.asset_id == ASSETS[0][1])
    assert (first.progress_percent, first.time_spent_seconds) == (Decimal("100"), 150)
    [day] = folded.course_days
    assert (day.progress_events, day.time_spent_seconds) == (3, 165)
    assert len(folded.activity_days) == 1 and len(folded.user_activity_days) == 1


def test_readings_at_the_same_instant_resolve_to_the_higher_percent() -> None:
    events = [progress(0, 0, 100, 25, 0), progress(0, 1, 100, 50, 0)]
    assert fold_progress(events).enrollments[0].percent_complete == Decimal("50")
    assert fold_progress(events[::-1]).enrollments[0].percent_complete == Decimal("50")


readings = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3), st.sampled_from([0, 25, 50, 100]),
                              st.integers(0, 100), st.integers(0, 3 * 24 * 60), st.integers(0, 600)),
                    min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(readings, st.randoms(use_true_random=False))
def test_any_order_of_the_same_events_folds_to_the_same_rows(raw: list[tuple[int, ...]], rng: Any) -> None:
    events = [progress(e, a, p, c, m, s) for e, a, p, c, m, s in raw]
    shuffled = events[:]
    rng.shuffle(shuffled)
    assert canonical(fold_progress(shuffled)) == canonical(fold_progress(events))


def enrollment_event(kind: str, minutes: int, enrollment: int = 0) -> EnrollmentEvent:
    return EnrollmentEvent(kind, ENROLLMENTS[enrollment], uuid.UUID(int=300 + enrollment), uuid.UUID(int=400),
                           T0 + timedelta(minutes=minutes))


def test_an_enrollments_events_apply_in_delivery_order() -> None:
    changes, days = fold_enrollment_events([
        enrollment_event("enrollment.created", 0), enrollment_event("enrollment.dropped", 10),
        enrollment_event("enrollment.created", 20),  # a re-enrollment
        enrollment_event("enrollment.created", 0, enrollment=1), enrollment_event("enrollment.completed", 30, 1),
        enrollment_event("certificate.issued", 31, 1),
    ])
    again, completed = changes
    assert again.changes == {"status": "active", "enrollment_seen": True, "enrolled_at": T0 + timedelta(minutes=20),
                             "dropped_at": None}
    assert completed.changes["status"] == "completed" and completed.first_at == T0
    # The re-enrollment is not a second enrollment of the course.
    assert days == {(uuid.UUID(int=400), T0.date()): {"enrolled": 2, "dropped": 1, "completed": 1, "certificates": 1}}


def test_an_enrollment_seen_in_an_earlier_batch_is_not_counted_again() -> None:
    _, days = fold_enrollment_events([enrollment_event("enrollment.created", 0)], already_seen=[ENROLLMENTS[0]])
    assert days == {}


def test_a_certificate_alone_changes_no_enrollment_row() -> None:
    [change], _ = fold_enrollment_events([enrollment_event("certificate.issued", 5)])
    assert change.changes == {}
