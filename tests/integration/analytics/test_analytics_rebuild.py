"""A rebuild from the archive gives every analytics route the same answer (issue 10: "a test compares every
analytics route's answer before and after a rebuild and finds them equal").

A realistic event set (an admin, instructors, learners; courses published with modules and assets, one
archived; enrollments, progress arriving before its enrollment, completions, drops, certificates; a nudge
sent through the nudge route, and the learner's return) goes both through the deployed archiver into S3 (the
AWS emulator) and through the deployed analytics consumer into a real database, topics interleaved out of
order and a batch delivered twice. Every analytics GET route's handler answers; the read models are then
damaged, the ``analytics-replay`` function rebuilds them from the archive, and every route answers the same.
Plus the replay's guard (an empty archive is refused unless forced) and its command line.
"""

from __future__ import annotations

import importlib
import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from smartcourse.consumers import dlq as dlq_module
from smartcourse_analytics.archive import decode_lines
from smartcourse_analytics.tables import READ_MODELS
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import topic_for
from sqlalchemy import Engine, func, select, text

from stacks.services import function
from tests.integration.analytics.conftest import Who, call
from tests.support.analytics import Course, World
from tests.support.events import msk_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=40)
NUDGE_AT = NOW - timedelta(days=6)


def at(day: float, hour: float = 10) -> datetime:
    return START + timedelta(days=day, hours=hour)


# --- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aws(moto: Any) -> dict[str, Any]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    bucket = f"rebuild-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return {"s3": s3, "bucket": bucket, "endpoint": moto.endpoint}


def _reset() -> None:
    from smartcourse.aws_clients import reset_clients

    from tests.integration.analytics.conftest import reset_analytics_caches

    reset_analytics_caches()
    dlq_module.reset_client()
    reset_clients()


@pytest.fixture(scope="module")
def env(analytics_env: str, aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHIVE_BUCKET", aws["bucket"])
        mp.setenv("AWS_ENDPOINT_URL", aws["endpoint"])
        _reset()
        yield aws
    _reset()


@pytest.fixture(autouse=True)
def fresh_settings(env: dict[str, Any]) -> Iterator[None]:
    """Settings, engine and clients read again per test (a test may point them elsewhere)."""
    _reset()
    yield
    _reset()


@pytest.fixture
def clock(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """``clock(moment)``: the analytics route handlers answer as of ``moment``."""
    from smartcourse.db.engine import get_engine
    from smartcourse_analytics.service import Analytics

    def set_now(moment: datetime) -> None:
        analytics = Analytics(get_engine, clock=lambda: moment)
        for name in ("me-progress", "course", "course-learners", "at-risk", "instructor-overview", "platform",
                     "nudge"):
            module = importlib.import_module(function(f"analytics-{name}").module)
            monkeypatch.setattr(module, "get_analytics", lambda: analytics)

    set_now(NOW)
    return set_now


def handler(name: str) -> Any:
    return importlib.import_module(function(name).module).handler


# --- the event set ------------------------------------------------------------------------------------------

class Story:
    """Who is who in the event set, and its events in two parts (before and after the nudge)."""

    def __init__(self) -> None:
        rng = random.Random(10)
        w = self.world = World()
        self.admin = w.user("Ada Admin", at=at(0))
        w.add("user.role_changed", {"user_id": self.admin, "role": "admin", "granted": True}, at(0, 11))
        self.teacher = w.user("Tea Cher", ("instructor",), at=at(0))
        self.teacher2 = w.user("Ian Structor", at=at(0))
        w.add("user.role_changed", {"user_id": self.teacher2, "role": "instructor", "granted": True}, at(1))
        self.learners = [w.user(f"Learner {i}", at=at(1 + i / 4)) for i in range(14)]
        for learner in self.learners[:9]:
            w.add("user.email_verified", {"user_id": learner}, at(2))
        self.pottery = w.course(self.teacher, "Pottery", (2, 2, 1), at=at(2))
        self.weaving = w.course(self.teacher2, "Weaving", (3, 1), at=at(3))
        old = w.course(self.teacher, "Old Course", (1,), at=at(1))
        w.add("course.archived", {"course_id": old.course_id}, at(4))
        self.enrollments: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = {}

        # Pottery: twelve learners (a cohort of ≥ 10: percentiles), each with a different pace.
        for i, learner in enumerate(self.learners[:12]):
            enrollment = self.enroll(self.pottery, learner, at(5 + i / 2))
            done = [5, 5, 4, 3, 3, 2, 2, 1, 1, 1, 0, 0][i]
            for asset in range(done):
                w.complete_asset(self.pottery, enrollment, learner, asset, at(6 + i / 2 + asset * 2, 9 + i % 5),
                                 seconds=rng.randint(60, 900))
            if done < 5 and i % 3 != 2:  # half way through the next asset
                w.progress(self.pottery, enrollment, learner, done, 50.0, round(100 * done / 5, 2),
                           at(7 + i / 2 + done * 2, 15), seconds=rng.randint(30, 300))
            if done == 5:
                w.complete(self.pottery, enrollment, learner, at(17 + i / 2, 18))
                w.certificate(self.pottery, enrollment, learner, at(17 + i / 2, 18.5))
        # Learner 9 drops; learner 10 enrolled and never started.
        w.drop(self.pottery, self.enrollments[(self.pottery.course_id, self.learners[9])], self.learners[9],
               at(25))
        # Weaving: a few learners, one of them also in Pottery; a drop and a re-enrollment.
        for j, learner in enumerate([self.learners[0], *self.learners[12:14]]):
            enrollment = self.enroll(self.weaving, learner, at(8 + j))
            for asset in range(j + 1):
                w.complete_asset(self.weaving, enrollment, learner, asset, at(9 + j + asset, 12))
        back = self.learners[13]
        w.drop(self.weaving, self.enrollments[(self.weaving.course_id, back)], back, at(20))
        w.add("enrollment.created", {"enrollment_id": self.enrollments[(self.weaving.course_id, back)],
                                     "user_id": back, "course_id": self.weaving.course_id, "source": "self",
                                     "enrolled_at": at(22)}, at(22))
        self.part1 = list(w.events)
        w.events.clear()
        # The nudged learner (learner 7, inactive since day 9) comes back after the nudge; others go on.
        self.nudged = self.learners[7]
        self.nudged_enrollment = self.enrollments[(self.pottery.course_id, self.nudged)]

    def enroll(self, course: Course, learner: uuid.UUID, when: datetime) -> uuid.UUID:
        enrollment = self.world.enroll(course, learner, when)
        self.enrollments[(course.course_id, learner)] = enrollment
        return enrollment

    def part2(self) -> list[EventEnvelope]:
        w = self.world
        w.complete_asset(self.pottery, self.nudged_enrollment, self.nudged, 1, NUDGE_AT + timedelta(days=2))
        w.progress(self.pottery, self.nudged_enrollment, self.nudged, 2, 30.0, 40.0, NUDGE_AT + timedelta(days=3))
        first = self.enrollments[(self.pottery.course_id, self.learners[3])]
        w.complete_asset(self.pottery, first, self.learners[3], 3, NOW - timedelta(days=1))
        w.progress(self.weaving, self.enrollments[(self.weaving.course_id, self.learners[13])], self.learners[13],
                   1, 20.0, 30.0, NOW - timedelta(hours=3))
        return list(w.events)


def deliver(events: list[EventEnvelope], seed: int) -> None:
    """Through the archiver (batches mixing topics, one delivered twice) and the consumer (topics out of order)."""
    rng = random.Random(seed)
    archive, consume = handler("analytics-archive-events"), handler("analytics-consume-events")
    rest = list(events)
    batches = []
    while rest:
        size = rng.randint(1, 40)
        batches.append(rest[:size])
        rest = rest[size:]
    for i, chunk in enumerate(batches):
        summary = archive(msk_event(*chunk), None)
        assert summary["dead_lettered"] == 0
        if i == 1:
            assert archive(msk_event(*chunk), None)["archived"] == 0
    # Each topic in its own order, the topics interleaved at random (progress before its enrollment, ...).
    streams: dict[str, list[EventEnvelope]] = {}
    for event in events:
        streams.setdefault(topic_for(event.event_type), []).append(event)
    order = ["smartcourse.progress-events", "smartcourse.enrollment-events", "smartcourse.analytics-events",
             "smartcourse.course-events", "smartcourse.user-events"]
    applied = 0
    while any(streams.values()):
        topic = next(t for t in order if streams.get(t)) if rng.random() < 0.5 else rng.choice(
            [t for t, s in streams.items() if s])
        size = rng.randint(1, 25)
        chunk, streams[topic] = streams[topic][:size], streams[topic][size:]
        summary = consume(msk_event(*chunk), None)
        assert summary["dead_lettered"] == 0
        applied += summary["applied"]


# --- the answers --------------------------------------------------------------------------------------------

def answers(story: Story) -> dict[str, Any]:
    """Every analytics GET route's answer (status and body) for the story's people and courses."""
    admin: Who = (story.admin, "student,admin")
    teacher: Who = (story.teacher, "instructor")
    teacher2: Who = (story.teacher2, "instructor")
    pottery, weaving = str(story.pottery.course_id), str(story.weaving.course_id)
    period = {"from": (NOW - timedelta(days=30)).date().isoformat(), "to": (NOW - timedelta(days=5)).date().isoformat()}
    calls: dict[str, tuple[str, Who, dict[str, Any]]] = {
        "me/progress learner 0": ("me-progress", (story.learners[0], "student"), {}),
        "me/progress learner 7": ("me-progress", (story.nudged, "student"), {}),
        "me/progress learner 13": ("me-progress", (story.learners[13], "student"), {}),
        "courses/pottery": ("course", teacher, {"path_params": {"course_id": pottery}}),
        "courses/pottery period": ("course", admin, {"path_params": {"course_id": pottery}, "query": period}),
        "courses/weaving": ("course", teacher2, {"path_params": {"course_id": weaving}}),
        "courses/pottery/learners": ("course-learners", teacher, {"path_params": {"course_id": pottery}}),
        "courses/pottery/learners page 2": ("course-learners", admin, {
            "path_params": {"course_id": pottery}, "query": {"limit": "5", "offset": "5"}}),
        "courses/weaving/learners": ("course-learners", teacher2, {"path_params": {"course_id": weaving}}),
        "courses/pottery/at-risk": ("at-risk", teacher, {"path_params": {"course_id": pottery}}),
        "courses/weaving/at-risk": ("at-risk", admin, {"path_params": {"course_id": weaving}}),
        "instructors/me": ("instructor-overview", teacher, {}),
        "instructors/me 2": ("instructor-overview", teacher2, {}),
        "platform": ("platform", admin, {}),
        "platform period": ("platform", admin, {"query": period}),
    }
    result = {}
    for label, (name, who, kwargs) in calls.items():
        response = call(name, who, **kwargs)
        result[label] = (response["statusCode"], json.loads(response["body"]))
    return result


def archived_events(aws: dict[str, Any]) -> list[dict[str, Any]]:
    s3, bucket = aws["s3"], aws["bucket"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/")
            for o in page.get("Contents", [])]
    return [line for key in keys for line in decode_lines(s3.get_object(Bucket=bucket, Key=key)["Body"].read())]


def damage(db: Engine) -> None:
    """What a rebuild must put right: lost facts, wrong roll-ups, a stray row, a forgotten claim."""
    with db.begin() as conn:
        conn.execute(text("DELETE FROM progress_facts WHERE ctid IN (SELECT ctid FROM progress_facts LIMIT 5)"))
        conn.execute(text("UPDATE enrollments SET percent_complete = 0, status = 'dropped'"))
        conn.execute(text("DELETE FROM course_daily"))
        conn.execute(text("DELETE FROM nudges"))
        conn.execute(text("DELETE FROM user_activity_days"))
        conn.execute(text("INSERT INTO users (user_id, full_name, roles) VALUES (:u, 'Ghost', '[\"admin\"]')"),
                     {"u": uuid.uuid4()})
        conn.execute(text("DELETE FROM processed_events WHERE ctid IN (SELECT ctid FROM processed_events LIMIT 7)"))


# --- tests --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def test_every_route_answers_the_same_after_a_rebuild_from_the_archive(
        story: Story, env: dict[str, Any], clock: Callable[[datetime], None], analytics_db: Engine) -> None:
    deliver(story.part1, seed=1)
    # The nudge, through its route, as of the day it is sent: its event leaves through the outbox.
    clock(NUDGE_AT)
    response = call("nudge", (story.teacher, "instructor"), path_params={"course_id": str(story.pottery.course_id)},
                    body={"user_ids": [str(story.nudged)], "message": "We miss you at the wheel"})
    assert response["statusCode"] == 202 and len(json.loads(response["body"])["nudged"]) == 1
    with analytics_db.connect() as conn:
        outbox = [EventEnvelope.model_validate(row[0]) for row in conn.execute(text("SELECT envelope FROM outbox"))]
    assert [e.event_type for e in outbox] == ["learner.nudge_requested"]
    deliver([*outbox, *story.part2()], seed=2)
    clock(NOW)

    before = answers(story)
    assert all(status == 200 for status, _ in before.values()), {k: v for k, v in before.items() if v[0] != 200}
    # The story shows in the answers (not a comparison of empty pages).
    pottery = before["courses/pottery"][1]
    assert pottery["enrollments"]["total"] == 12 and pottery["enrollments"]["completed"] == 2
    assert pottery["enrollments"]["dropped"] == 1
    at_risk = before["courses/pottery/at-risk"][1]
    assert at_risk["items"] and at_risk["nudges"] == {"sent": 1, "returned_within_7_days": 1}
    assert before["platform"][1] != before["platform period"][1]

    damage(analytics_db)
    assert answers(story) != before  # the comparison can fail

    result = handler("analytics-replay")({}, None)
    archived = archived_events(env)
    everything = [*story.part1, *outbox, *story.world.events]
    assert sorted(e["event_id"] for e in archived) == sorted(str(e.event_id) for e in everything)  # each once
    assert result["events"] == len(everything) and result["applied"] == len(everything)
    assert result["skipped"] == 0 and result["failed"] == 0 and result["objects"] > 5
    assert result["elapsed_seconds"] >= 0

    after = answers(story)
    for label in before:
        assert after[label] == before[label], label

    # A second rebuild changes nothing either.
    assert handler("analytics-replay")({}, None)["applied"] == len(everything)
    assert answers(story) == before


def test_an_empty_archive_is_refused_unless_forced(
        env: dict[str, Any], analytics_db: Engine, feed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse_analytics.replay import ArchiveEmpty

    w = World()
    w.user("Someone")
    feed(w.events)
    empty = f"empty-{uuid.uuid4().hex[:8]}"
    env["s3"].create_bucket(Bucket=empty)
    env["s3"].put_object(Bucket=empty, Key="events/README.txt", Body=b"not an archive object")
    monkeypatch.setenv("ARCHIVE_BUCKET", empty)
    _reset()

    def rows() -> int:
        with analytics_db.connect() as conn:
            return sum(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in READ_MODELS)

    kept = rows()
    assert kept > 0
    with pytest.raises(ArchiveEmpty):
        handler("analytics-replay")({}, None)
    with pytest.raises(ArchiveEmpty):
        handler("analytics-replay")({"force": "yes"}, None)  # only true forces
    assert rows() == kept
    result = handler("analytics-replay")({"force": True}, None)
    assert (result["objects"], result["events"], result["applied"]) == (0, 0, 0)
    assert rows() == 0


def test_the_command_line_replays_in_process_and_refuses_an_empty_archive(
        env: dict[str, Any], analytics_db: Engine, feed: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from smartcourse_analytics.replay_cli import main

    w = World()
    teacher = w.user("Tea Cher", ("instructor",))
    w.course(teacher, "Glazing", (1,))
    archive = handler("analytics-archive-events")
    assert archive(msk_event(*w.events), None)["archived"] == len(w.events)
    with analytics_db.begin() as conn:
        conn.execute(text("DELETE FROM courses"))
    monkeypatch.setenv("ARCHIVE_BUCKET", env["bucket"])
    _reset()
    capsys.readouterr()  # the archiver's log lines
    assert main([]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)  # the counts alone: the log lines go to stderr
    assert '"replay done"' in err
    assert report["events"] >= len(w.events) and report["objects"] >= 1
    with analytics_db.connect() as conn:
        titles = conn.execute(text("SELECT title FROM courses")).scalars().all()
    assert "Glazing" in titles

    empty = f"empty-{uuid.uuid4().hex[:8]}"
    env["s3"].create_bucket(Bucket=empty)
    monkeypatch.setenv("ARCHIVE_BUCKET", empty)
    assert main([]) == 2
    assert "empty" in capsys.readouterr().err
    with analytics_db.connect() as conn:
        assert "Glazing" in conn.execute(text("SELECT title FROM courses")).scalars().all()


def test_the_replay_counts_and_skips_what_it_cannot_apply_and_applies_the_rest(
        env: dict[str, Any], analytics_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse_analytics.archive import encode_lines, object_key

    from tests.support.events import sample_events

    registered, processed = sample_events(["user.registered", "course.processing_completed"])
    w = World()
    learner = w.user("Ann")
    course = w.course(learner, "Clay", (1,))
    # Valid by its contract (any text), but PostgreSQL refuses NUL in text: the live consumer dead-letters it.
    w.nudge(course, learner, learner, datetime(2026, 3, 1, tzinfo=UTC), message="a\x00b")
    refused = w.events[-1]

    def line(envelope: EventEnvelope, **changes: Any) -> bytes:
        return json.dumps({**envelope.to_json_dict(), **changes}).encode()

    bad_user = {**registered.to_json_dict()["payload"], "user_id": "not-a-uuid"}
    lines = [
        line(registered),  # applied
        line(processed),  # a type the read models are not built from
        line(registered, event_id=str(uuid.uuid4()), event_type="badge.awarded"),  # no contract: not consumed
        line(registered, event_id=str(uuid.uuid4()), event_type="progress.updated", event_version=9),  # unknown
        line(registered, event_id=str(uuid.uuid4()), payload=bad_user),  # invalid payload
        b"{not json",  # invalid
        line(refused),  # failed
    ]
    bucket = f"odd-{uuid.uuid4().hex[:8]}"
    s3 = env["s3"]
    s3.create_bucket(Bucket=bucket)
    day = registered.occurred_at.astimezone(UTC).date()
    s3.put_object(Bucket=bucket, Key=object_key("smartcourse.user-events", day, [uuid.uuid4()]),
                  Body=encode_lines(lines))
    s3.put_object(Bucket=bucket, Key=object_key("smartcourse.user-events", day, [uuid.uuid4()]),
                  Body=encode_lines([line(registered)]))  # the same event, archived twice
    monkeypatch.setenv("ARCHIVE_BUCKET", bucket)
    _reset()
    result = handler("analytics-replay")({}, None)
    assert {k: v for k, v in result.items() if k != "elapsed_seconds"} == {
        "objects": 2, "events": 8, "applied": 1, "skipped": 7, "not_consumed": 2, "unknown_types": 1,
        "invalid": 2, "duplicates": 1, "failed": 1}
    with analytics_db.connect() as conn:
        users = conn.execute(text("SELECT user_id FROM users")).scalars().all()
        facts = conn.execute(text("SELECT count(*) FROM progress_facts")).scalar_one()
    assert users == [registered.aggregate_id] and facts == 0


def test_a_replay_refuses_while_the_archive_lacks_applied_events(
        env: dict[str, Any], analytics_db: Engine, feed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse_analytics.archive import encode_lines, object_key
    from smartcourse_analytics.replay import ArchiveBehind

    archived, lagging = World(), World()
    archived.user("In the archive")
    lagging.user("Not archived yet")
    bucket = f"behind-{uuid.uuid4().hex[:8]}"
    env["s3"].create_bucket(Bucket=bucket)
    [event] = archived.events
    env["s3"].put_object(Bucket=bucket, Key=object_key("smartcourse.user-events", event.occurred_at.date(),
                                                       [event.event_id]),
                         Body=encode_lines([json.dumps(event.to_json_dict()).encode()]))
    with analytics_db.begin() as conn:  # the archiver's ledger says what it holds
        conn.execute(text("INSERT INTO archived_events (event_id, object_key) VALUES (:e, 'k') "
                          "ON CONFLICT DO NOTHING"), {"e": event.event_id})
    monkeypatch.setenv("ARCHIVE_BUCKET", bucket)
    _reset()
    assert handler("analytics-replay")({"force": True}, None)["applied"] == 1  # start from what the archive holds
    assert handler("analytics-replay")({}, None)["applied"] == 1  # all applied events archived: it may replay
    feed(lagging.events)  # applied live, but the archiver has not written it
    with pytest.raises(ArchiveBehind):
        handler("analytics-replay")({}, None)
    with analytics_db.connect() as conn:
        names = set(conn.execute(text("SELECT full_name FROM users")).scalars())
    assert "Not archived yet" in names  # refused: nothing emptied
