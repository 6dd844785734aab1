"""Lock orders of the analytics writers that wait for one another: each test holds one side of a former deadlock
open in a transaction of its own, lets the code under test block on it, and checks that the side transaction can
still take its next lock (under a ``lock_timeout``, so that a regression fails fast instead of hanging)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from smartcourse.principal import Principal
from sqlalchemy import Engine, insert, text

from tests.integration.analytics.conftest import Feed
from tests.support.analytics import World

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class EmptyArchive:
    def keys(self) -> Iterable[str]:
        return []

    def read(self, key: str) -> bytes:
        raise AssertionError(f"nothing to read: {key}")


def wait_until_blocked(engine: Engine, timeout: float = 30.0) -> None:
    """Until a session of the test's database waits on a lock: the code under test has reached it (polled, as a
    loaded machine may take a while to get the thread there)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")).scalar_one()
            conn.rollback()  # a fresh snapshot of pg_stat_activity on the next poll
            if waiting:
                return
            time.sleep(0.1)
    raise AssertionError("the code under test never waited on a lock")


def test_a_replay_waiting_for_a_consumer_claim_holds_no_read_model_lock(analytics_db: Engine) -> None:
    # Guards the replay/consumer deadlock: the consumer claims an event in processed_events, then writes the read
    # models; a replay that locked the read models before processed_events held them while waiting for the claim.
    from smartcourse_analytics.ingest import CONSUMER_NAME
    from smartcourse_analytics.replay import replay
    from smartcourse_analytics.tables import processed_events, users

    with ThreadPoolExecutor(1) as pool:
        with analytics_db.connect() as consumer:
            consumer.execute(insert(processed_events).values(
                consumer=CONSUMER_NAME, event_id=uuid.uuid4(), event_type="user.registered"))
            rebuild = pool.submit(replay, analytics_db, EmptyArchive(), force=True)
            wait_until_blocked(analytics_db)
            time.sleep(1.5)
            assert not rebuild.done()  # waiting for the claim
            consumer.execute(text("SET LOCAL lock_timeout = '2s'"))
            consumer.execute(insert(users).values(user_id=uuid.uuid4(), full_name="Claimed meanwhile"))
            consumer.rollback()  # the claim goes: the replay takes its locks and runs
        report = rebuild.result(timeout=120)
    assert (report.objects, report.events, report.applied) == (0, 0, 0)


def test_concurrent_nudges_of_the_same_learners_do_not_deadlock(
        analytics_env: str, analytics_db: Engine, feed: Feed) -> None:
    # Guards the nudge/nudge deadlock: two requests for the same learners in opposite orders each inserted one
    # learner's nudge and waited on the unique index (course, user, day) for the other's.
    from smartcourse_analytics import queries
    from smartcourse_analytics.metrics import to_day
    from smartcourse_analytics.service import Analytics

    w = World()
    teacher = w.user("Tea Cher", ("instructor",))
    course = w.course(teacher, "Lock Order", (1,))
    u1, u2 = sorted(w.user(f"Learner {i}") for i in range(2))
    for learner in (u1, u2):
        w.enroll(course, learner, NOW - timedelta(days=3))
    feed(w.events)
    caller = Principal(user_id=teacher, roles=frozenset({"instructor"}))
    analytics = Analytics(lambda: analytics_db, clock=lambda: NOW)

    def nudge_row(user_id: uuid.UUID) -> dict[str, Any]:
        return {"nudge_id": uuid.uuid4(), "course_id": course.course_id, "user_id": user_id,
                "sender_id": teacher, "message": "The other request", "sent_at": NOW, "sent_on": to_day(NOW)}

    with ThreadPoolExecutor(1) as pool:
        with analytics_db.begin() as other:
            assert set(queries.insert_nudges(other, [nudge_row(u1)])) == {u1}
            request = pool.submit(analytics.nudge, caller, course.course_id, [u2, u1], "Come back")
            wait_until_blocked(analytics_db)
            time.sleep(1.5)
            assert not request.done()  # waiting on u1's index entry, holding none of u2's
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert set(queries.insert_nudges(other, [nudge_row(u2)])) == {u2}
        result = request.result(timeout=60)
    assert result == {"nudged": [], "skipped": [{"user_id": str(u2), "reason": "already_nudged_today"},
                                                {"user_id": str(u1), "reason": "already_nudged_today"}]}
