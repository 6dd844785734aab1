"""The deployed analytics consumer (``analytics-consume-events``) with MSK-shaped batches and a real analytics
database: facts and roll-ups from each event kind, the same rows whatever the order across topics, a
redelivered batch counted once, and a bad record dead-lettered alone while the rest of its batch applies."""

from __future__ import annotations

import importlib
import json
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from smartcourse.consumers import dlq as dlq_module
from smartcourse_analytics.tables import metadata
from sqlalchemy import Engine, text

from stacks.services import function
from tests.support.analytics import T0, World, days
from tests.support.events import msk_event

pytestmark = pytest.mark.integration

ROLLUPS = ("users", "courses", "modules", "assets", "progress_facts", "enrollment_facts", "enrollments",
           "asset_progress", "module_progress", "course_daily", "activity_days", "user_activity_days", "nudges")


@pytest.fixture(scope="module")
def db(analytics_db: Engine) -> Engine:
    return analytics_db


@pytest.fixture
def dlq(moto: Any) -> tuple[Any, str]:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    return sqs, str(sqs.create_queue(QueueName=f"analytics-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"])


@pytest.fixture
def handler(analytics_url: str, dlq: tuple[Any, str], moto: Any, db: Engine,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", analytics_url)
    monkeypatch.setenv("DB_NAME", "smartcourse_analytics")
    monkeypatch.setenv("SERVICE_NAME", "analytics")
    monkeypatch.setenv("CONSUMER_DLQ_URL", dlq[1])
    monkeypatch.setenv("CONSUMER_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        dlq_module.reset_client()

    with db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(ROLLUPS)}, processed_events"))
    reset()
    yield importlib.import_module(function("analytics-consume-events").module).handler
    reset()


def snapshot(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with db.connect() as conn:
        return {table: sorted(tuple(str(v) for v in row) for row in conn.execute(metadata.tables[table].select()))
                for table in ROLLUPS}


def small_world() -> tuple[World, dict[str, Any]]:
    w = World()
    teacher = w.user("Tea Cher", ("instructor",))
    ann, bob = w.user("Ann"), w.user("Bob")
    course = w.course(teacher, "Pottery", (2, 1))
    ea = w.enroll(course, ann, T0 + days(1))
    eb = w.enroll(course, bob, T0 + days(1))
    w.complete_asset(course, ea, ann, 0, T0 + days(2), seconds=120)
    w.complete_asset(course, ea, ann, 1, T0 + days(3), seconds=60)
    w.complete_asset(course, ea, ann, 2, T0 + days(3, ), seconds=30)
    w.complete(course, ea, ann, T0 + days(3))
    w.certificate(course, ea, ann, T0 + days(3))
    w.progress(course, eb, bob, 0, 40.0, 13.33, T0 + days(2), seconds=300)
    w.drop(course, eb, bob, T0 + days(4))
    return w, {"course": course, "ann": ann, "bob": bob, "ea": ea, "eb": eb}


def test_every_event_kind_lands_in_its_facts_and_rollups(handler: Any, db: Engine) -> None:
    w, ids = small_world()
    summary = handler(msk_event(*w.events), None)
    assert summary["applied"] == len(w.events) and summary["dead_lettered"] == 0
    with db.connect() as conn:
        ann = conn.execute(text("SELECT status, percent_complete, time_spent_seconds, progress_events, "
                                "enrollment_seen, completed_at IS NOT NULL FROM enrollments "
                                "WHERE enrollment_id = :e"), {"e": ids["ea"]}).one()
        bob = conn.execute(text("SELECT status, percent_complete, time_spent_seconds, current_module_id "
                                "FROM enrollments WHERE enrollment_id = :e"), {"e": ids["eb"]}).one()
        daily = conn.execute(text("SELECT day, enrolled, completed, dropped, certificates, progress_events "
                                  "FROM course_daily ORDER BY day")).all()
        funnel = conn.execute(text("SELECT m.order_index, m.asset_count, count(ap.*) FILTER "
                                   "(WHERE ap.progress_percent = 100) FROM modules m LEFT JOIN asset_progress ap "
                                   "ON ap.module_id = m.module_id GROUP BY m.order_index, m.asset_count "
                                   "ORDER BY m.order_index")).all()
        modules = conn.execute(text("SELECT m.order_index, mp.assets_started, mp.assets_completed FROM "
                                    "module_progress mp JOIN modules m USING (module_id) WHERE mp.enrollment_id "
                                    "IN (:a, :b) ORDER BY mp.enrollment_id = :a DESC, m.order_index"),
                               {"a": ids["ea"], "b": ids["eb"]}).all()
        facts = conn.execute(text("SELECT (SELECT count(*) FROM progress_facts), "
                                  "(SELECT count(*) FROM enrollment_facts)")).one()
        active_days = conn.execute(text("SELECT count(*) FROM user_activity_days WHERE user_id = :u"),
                                   {"u": ids["ann"]}).scalar_one()
        roles = conn.execute(text("SELECT roles FROM users WHERE full_name = 'Tea Cher'")).scalar_one()
    assert tuple(ann) == ("completed", Decimal("100.00"), 210, 3, True, True)
    assert (bob.status, bob.percent_complete, bob.time_spent_seconds) == ("dropped", Decimal("13.33"), 300)
    assert bob.current_module_id == ids["course"].modules[0][0]
    assert [tuple(r)[1:] for r in daily] == [(2, 0, 0, 0, 0), (0, 0, 0, 0, 2), (0, 1, 0, 1, 2), (0, 0, 1, 0, 0)]
    assert [tuple(r) for r in funnel] == [(0, 2, 2), (1, 1, 1)]
    assert [tuple(r) for r in modules] == [(0, 2, 2), (1, 1, 1), (0, 1, 0)]  # Ann both modules done; Bob started
    assert tuple(facts) == (4, 5)
    assert active_days == 2 and roles == ["instructor"]


def test_out_of_order_across_topics_gives_the_same_rows(handler: Any, db: Engine) -> None:
    w, _ = small_world()
    handler(msk_event(*w.events), None)
    in_order = snapshot(db)
    with db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(ROLLUPS)}, processed_events"))
    # Each topic keeps its own order (one partition per key); across topics anything goes: here every progress
    # event first, then the rest, in small random batches.
    progress = [e for e in w.events if e.event_type == "progress.updated"]
    rest = [e for e in w.events if e.event_type != "progress.updated"]
    shuffled = progress + rest
    rng = random.Random(7)
    while shuffled:
        size = rng.randint(1, 3)
        handler(msk_event(*shuffled[:size]), None)
        shuffled = shuffled[size:]
    assert snapshot(db) == in_order


def test_a_redelivered_batch_counts_once(handler: Any, db: Engine) -> None:
    w, _ = small_world()
    handler(msk_event(*w.events), None)
    once = snapshot(db)
    again = handler(msk_event(*w.events), None)
    assert again["applied"] == 0 and again["skipped_duplicates"] == len(w.events)
    assert snapshot(db) == once


def test_progress_after_a_nudge_marks_it_returned_within_seven_days(handler: Any, db: Engine) -> None:
    w, ids = small_world()
    course, teacher = ids["course"], ids["course"].instructor_id
    late = w.user("Late Learner")
    el = w.enroll(course, late, T0 + days(1))
    w.progress(course, el, late, 0, 10.0, 3.0, T0 + days(2))
    w.nudge(course, late, teacher, T0 + days(10))
    w.nudge(course, ids["bob"], teacher, T0 + days(10))
    handler(msk_event(*w.events), None)
    w2 = World()
    back = w2.progress(course, el, late, 0, 50.0, 16.0, T0 + days(12))
    w2.progress(course, ids["eb"], ids["bob"], 0, 50.0, 16.0, T0 + days(18))  # too late: 8 days after
    handler(msk_event(*w2.events), None)
    with db.connect() as conn:
        rows = dict(conn.execute(text("SELECT user_id, returned_at FROM nudges")).all())
    assert rows[late] == back.occurred_at and rows[ids["bob"]] is None


def test_a_bad_record_is_dead_lettered_alone_and_the_rest_of_the_batch_applies(
        handler: Any, db: Engine, dlq: tuple[Any, str]) -> None:
    w, ids = small_world()
    # Valid by the contract (any text), but PostgreSQL refuses NUL in text: the record fails in the database.
    w.nudge(ids["course"], ids["bob"], ids["course"].instructor_id, T0 + days(3), message="a\x00b")
    broken = w.events[-1]
    events = [e for e in w.events if e.event_id != broken.event_id]
    events.insert(len(events) // 2, broken)
    summary = handler(msk_event(*events), None)
    assert summary["dead_lettered"] == 1 and summary["applied"] == len(events) - 1
    sqs, url = dlq
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert json.loads(message["Body"])["consumer"] == "analytics-events"
    with db.connect() as conn:
        facts = conn.execute(text("SELECT count(*) FROM progress_facts")).scalar_one()
        nudges = conn.execute(text("SELECT count(*) FROM nudges")).scalar_one()
        bob = conn.execute(text("SELECT time_spent_seconds FROM enrollments WHERE enrollment_id = :e"),
                           {"e": ids["eb"]}).scalar_one()
    assert facts == 4 and bob == 300 and nudges == 0


def test_a_re_enrollment_reactivates_the_row_and_counts_once(handler: Any, db: Engine) -> None:
    w, ids = small_world()
    handler(msk_event(*w.events), None)
    again = World()
    course, bob = ids["course"], ids["bob"]
    # The LMS reactivates the dropped enrollment: enrollment.created again, with the first enrollment's date.
    again.add("enrollment.created", {"enrollment_id": ids["eb"], "user_id": bob, "course_id": course.course_id,
                                     "source": "self", "enrolled_at": T0 + days(1)}, T0 + days(6))
    handler(msk_event(*again.events), None)
    with db.connect() as conn:
        row = conn.execute(text("SELECT status, dropped_at, enrolled_at FROM enrollments WHERE enrollment_id = :e"),
                           {"e": ids["eb"]}).one()
        enrolled = conn.execute(text("SELECT sum(enrolled) FROM course_daily WHERE course_id = :c"),
                                {"c": course.course_id}).scalar_one()
    assert (row.status, row.dropped_at, row.enrolled_at) == ("active", None, T0 + days(1))
    assert enrolled == 2  # Ann and Bob, once each


def test_an_event_spelt_otherwise_than_its_producer_writes_still_applies(handler: Any, db: Engine) -> None:
    w, ids = small_world()
    handler(msk_event(*w.events), None)
    late = World()
    shout = late.progress(ids["course"], ids["eb"], ids["bob"], 1, 100.0, 66.67, T0 + days(3, ), seconds=30)
    # Valid by the contract, spelt unlike build_event writes it: upper-case ids, a timestamp as a number.
    upper = {k: v.upper() if k.endswith("_id") else v for k, v in shout.payload.items()}
    enrolled = late.add("enrollment.created", {"enrollment_id": uuid.uuid4(), "user_id": ids["ann"],
                                               "course_id": ids["course"].course_id, "source": "self",
                                               "enrolled_at": T0 + days(2)}, T0 + days(2))
    numeric = {**enrolled.payload, "enrolled_at": (T0 + days(2)).timestamp()}
    batch = [shout.model_copy(update={"payload": upper}), enrolled.model_copy(update={"payload": numeric})]
    summary = handler(msk_event(*batch), None)
    assert summary["applied"] == 2 and summary["dead_lettered"] == 0
    with db.connect() as conn:
        bob = conn.execute(text("SELECT time_spent_seconds FROM enrollments WHERE enrollment_id = :e"),
                           {"e": ids["eb"]}).scalar_one()
        enrolled_at = conn.execute(text("SELECT enrolled_at FROM enrollments WHERE enrollment_id = :e"),
                                   {"e": enrolled.payload["enrollment_id"]}).scalar_one()
    assert bob == 330 and enrolled_at == T0 + days(2)


def test_a_later_lower_reading_takes_the_asset_out_of_its_modules_completed_count(handler: Any, db: Engine) -> None:
    w, ids = small_world()
    handler(msk_event(*w.events), None)

    def module_row() -> tuple[int, int]:
        with db.connect() as conn:
            row = conn.execute(text("SELECT assets_started, assets_completed FROM module_progress "
                                    "WHERE enrollment_id = :e AND module_id = :m"),
                               {"e": ids["ea"], "m": ids["course"].modules[0][0]}).one()
        return int(row[0]), int(row[1])

    assert module_row() == (2, 2)
    later = World()
    # The LMS never lowers progress, but the roll-up must follow whatever the latest reading says.
    later.progress(ids["course"], ids["ea"], ids["ann"], 0, 60.0, 66.67, T0 + days(5))
    handler(msk_event(*later.events), None)
    assert module_row() == (2, 1)
    again = World()
    again.progress(ids["course"], ids["ea"], ids["ann"], 0, 100.0, 100.0, T0 + days(6))
    handler(msk_event(*again.events), None)
    assert module_row() == (2, 2)
