"""The outbox publisher's pure rules: backoff, parking, and settling a batch per aggregate."""

from __future__ import annotations

import pytest
from smartcourse.outbox.rules import MAX_ERROR_CHARS, Backoff, on_failure, settle


def test_backoff_doubles_per_attempt_and_is_capped() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=900, jitter=0)
    assert [backoff.delay(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert backoff.delay(10) == 900 and backoff.delay(10_000) == 900


def test_jitter_adds_at_most_its_fraction() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=900, jitter=0.1)
    assert backoff.delay(3, rand=lambda: 0.0) == 8
    assert backoff.delay(3, rand=lambda: 1.0) == pytest.approx(8.8)
    assert backoff.delay(20, rand=lambda: 1.0) == pytest.approx(990)


def test_a_failure_counts_an_attempt_and_parks_at_the_limit() -> None:
    backoff = Backoff(jitter=0)
    first = on_failure(0, 3, RuntimeError("broker gone"), backoff)
    assert (first.attempts, first.status, first.delay_seconds) == (1, "pending", 2)
    assert first.error == "RuntimeError: broker gone"
    assert on_failure(1, 3, "x", backoff).status == "pending"
    assert on_failure(2, 3, "x", backoff).status == "failed"
    assert on_failure(0, 1, "x", backoff).status == "failed"
    assert len(on_failure(0, 3, "e" * 10_000, backoff).error) == MAX_ERROR_CHARS


def test_settle_defers_the_rows_after_a_failed_row_of_the_same_aggregate_only() -> None:
    rows = [(1, "x"), (2, "y"), (3, "x"), (4, "z"), (5, "y"), (6, "x")]
    settlement = settle(rows, {3: "nack"})
    assert settlement.published == [1, 2, 4, 5]
    assert list(settlement.failed) == [3]
    assert settlement.deferred == [6]


def test_settle_with_every_row_failed_counts_each_aggregate_head_once() -> None:
    rows = [(1, "x"), (2, "x"), (3, "y")]
    errors: dict[int, BaseException | str] = {1: "down", 2: "down", 3: "down"}
    settlement = settle(rows, errors)
    assert settlement.published == [] and list(settlement.failed) == [1, 3] and settlement.deferred == [2]


def test_a_broker_outage_uses_up_no_attempt_and_waits_a_capped_delay() -> None:
    from smartcourse.outbox.rules import BROKER_DOWN_MAX_DELAY_SECONDS, on_broker_down

    backoff = Backoff(base_seconds=1, jitter=0)
    first = on_broker_down(0, "broker gone", backoff)
    assert (first.attempts, first.status, first.delay_seconds) == (0, "pending", 2.0)
    late = on_broker_down(9, ConnectionError("still gone"), backoff)
    assert (late.attempts, late.status) == (9, "pending")
    assert late.delay_seconds == BROKER_DOWN_MAX_DELAY_SECONDS and late.error == "ConnectionError: still gone"
