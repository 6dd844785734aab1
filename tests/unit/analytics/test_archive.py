"""The event archive's layout and format (smartcourse_analytics.archive): keys, partitions by the envelope's UTC
day, content-derived names, gzip JSON Lines that read back as the same envelopes, and the replay order."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from smartcourse_analytics.archive import (
    ArchivedEvent,
    NotAnEnvelope,
    archived_event,
    body_lines,
    decode_lines,
    encode_lines,
    merge_by_time,
    object_key,
    parse_key,
    plan_objects,
    replay_partitions,
)
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event
from smartcourse_events.topics import PROGRESS_EVENTS, USER_EVENTS

from tests.support.events import sample_events

NAME = r"[0-9a-f]{32}"


def value(envelope: EventEnvelope) -> dict[str, Any]:
    return envelope.to_json_dict()


def user_event(at: datetime, **extra: Any) -> dict[str, Any]:
    envelope = build_event({"user_id": str(uuid.uuid4())}, event_type="user.email_verified", occurred_at=at)
    return {**value(envelope), **extra}


def test_an_event_goes_to_its_topic_and_the_utc_day_it_occurred_on() -> None:
    # 23:30 at UTC-5 is 04:30 the next day in UTC: the partition is the UTC day.
    at = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    event = archived_event(USER_EVENTS, user_event(at))
    [obj] = plan_objects([event])
    assert obj.topic == USER_EVENTS and obj.day == date(2026, 3, 2)
    assert obj.key.startswith("events/topic=smartcourse.user-events/date=2026-03-02/")
    assert obj.key.endswith(".jsonl.gz")
    parts = parse_key(obj.key)
    assert parts is not None and (parts.topic, parts.day) == (USER_EVENTS, date(2026, 3, 2))
    assert len(parts.name) == 32 and all(c in "0123456789abcdef" for c in parts.name)


def test_a_batch_becomes_one_object_per_topic_and_day_and_an_id_seen_twice_counts_once() -> None:
    day1, day2 = datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)
    a, b, c = user_event(day1), user_event(day1 + timedelta(minutes=1)), user_event(day2)
    progress = value(sample_events(["progress.updated"])[0])
    events = [archived_event(USER_EVENTS, v) for v in (b, a, c, a)] + [archived_event(PROGRESS_EVENTS, progress)]
    objects = plan_objects(events)
    grouped = {(o.topic, o.day): [str(e.event_id) for e in o.events] for o in objects}
    progress_day = datetime.fromisoformat(progress["occurred_at"]).astimezone(UTC).date()
    assert grouped == {
        (USER_EVENTS, date(2026, 3, 1)): [a["event_id"], b["event_id"]],  # sorted by occurred_at
        (USER_EVENTS, date(2026, 3, 2)): [c["event_id"]],
        (PROGRESS_EVENTS, progress_day): [progress["event_id"]],
    }
    assert len({o.key for o in objects}) == 3


def test_the_name_comes_from_the_event_ids_whatever_their_order() -> None:
    day = date(2026, 3, 1)
    ids = [uuid.uuid4() for _ in range(5)]
    assert object_key(USER_EVENTS, day, ids) == object_key(USER_EVENTS, day, list(reversed(ids)))
    assert object_key(USER_EVENTS, day, ids) != object_key(USER_EVENTS, day, ids[:4])
    assert object_key(USER_EVENTS, day, ids) != object_key(PROGRESS_EVENTS, day, ids)
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    values = [user_event(at + timedelta(seconds=i)) for i in range(3)]
    first = plan_objects([archived_event(USER_EVENTS, v) for v in values])
    again = plan_objects([archived_event(USER_EVENTS, v) for v in reversed(values)])
    assert [o.key for o in first] == [o.key for o in again]
    assert first[0].body() == again[0].body()  # the same bytes: a redelivered batch rewrites the same object


def test_only_keeps_the_key_and_drops_the_events_archived_before() -> None:
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    values = [user_event(at + timedelta(seconds=i)) for i in range(3)]
    [obj] = plan_objects([archived_event(USER_EVENTS, v) for v in values])
    kept = obj.only({obj.events[2].event_id})
    assert kept.key == obj.key and [e.event_id for e in kept.events] == [obj.events[2].event_id]
    assert obj.only(set()).events == ()


def test_the_body_is_gzip_json_lines_that_read_back_as_the_same_envelopes() -> None:
    envelopes = sample_events(["course.published", "progress.updated", "user.registered"])
    events = [archived_event("smartcourse.mixed", value(e)) for e in envelopes]
    [obj] = plan_objects([e for e in events])
    body = obj.body()
    lines = gzip.decompress(body).decode().split("\n")
    assert lines[-1] == "" and len(lines) == 4  # one envelope per line, each ended by a newline
    assert all(line == json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)
               for line in lines[:-1])
    read = [EventEnvelope.model_validate(v) for v in decode_lines(body)]
    assert sorted(read, key=lambda e: str(e.event_id)) == sorted(envelopes, key=lambda e: str(e.event_id))
    assert gzip.decompress(body) == gzip.decompress(encode_lines(e.line for e in obj.events))
    assert body == encode_lines(e.line for e in obj.events)  # no timestamp in the gzip header


def test_unknown_types_and_envelope_fields_are_archived_as_the_topic_carried_them() -> None:
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    raw = {**user_event(at), "event_type": "badge.awarded", "event_version": 3, "payload": {"badge": "gold"},
           "trace": {"span": "abc"}, "title": "Ünïcode"}
    event = archived_event(USER_EVENTS, raw)
    assert json.loads(event.line) == raw
    assert "Ünïcode" in event.line.decode()


@pytest.mark.parametrize("bad", [
    "just a string", ["a", "list"], 42, None,
    {"event_id": "not-a-uuid"},
    {"event_type": "user.email_verified", "payload": {}},  # no id, time, producer...
])
def test_what_is_not_an_envelope_is_refused(bad: Any) -> None:
    with pytest.raises(NotAnEnvelope):
        archived_event(USER_EVENTS, bad)


def test_a_time_without_an_offset_is_not_an_envelope() -> None:
    raw = user_event(datetime(2026, 3, 1, 9, tzinfo=UTC))
    raw["occurred_at"] = "2026-03-01T09:00:00"
    with pytest.raises(NotAnEnvelope):
        archived_event(USER_EVENTS, raw)


@pytest.mark.parametrize("topic", ["", "a/b", "../x", "topic with space", "x" * 250])
def test_a_topic_that_could_not_be_a_key_segment_is_refused(topic: str) -> None:
    with pytest.raises(NotAnEnvelope):
        archived_event(topic, user_event(datetime(2026, 3, 1, tzinfo=UTC)))


@pytest.mark.parametrize("key", [
    "events/topic=t/date=2026-02-30/abc.jsonl.gz",  # no such day
    "events/topic=t/date=2026-03-01/abc.json.gz",
    "events/topic=t/2026-03-01/abc.jsonl.gz",
    "reports/topic=t/date=2026-03-01/abc.jsonl.gz",
    "events/topic=t/date=2026-03-01/sub/abc.jsonl.gz",
])
def test_keys_that_are_not_archive_objects_are_not_parsed(key: str) -> None:
    assert parse_key(key) is None


def test_a_replay_reads_day_by_day_then_topic_by_topic() -> None:
    keys = [
        "events/topic=b/date=2026-03-01/2.jsonl.gz",
        "events/topic=a/date=2026-03-02/1.jsonl.gz",
        "events/topic=b/date=2026-03-01/1.jsonl.gz",
        "events/topic=a/date=2026-03-01/9.jsonl.gz",
        "events/_tmp/whatever",
    ]
    partitions = replay_partitions(keys)
    assert [(p.day.isoformat(), p.topic, p.keys) for p in partitions] == [
        ("2026-03-01", "a", ("events/topic=a/date=2026-03-01/9.jsonl.gz",)),
        ("2026-03-01", "b", ("events/topic=b/date=2026-03-01/1.jsonl.gz", "events/topic=b/date=2026-03-01/2.jsonl.gz")),
        ("2026-03-02", "a", ("events/topic=a/date=2026-03-02/1.jsonl.gz",)),
    ]
    assert replay_partitions([]) == []


def test_objects_of_one_partition_merge_in_time_order_and_ties_keep_their_order() -> None:
    base = datetime(2026, 3, 1, 9, tzinfo=UTC)

    def line(minute: int, tag: str, offset_hours: int = 0) -> bytes:
        at = (base + timedelta(minutes=minute)).astimezone(timezone(timedelta(hours=offset_hours)))
        return json.dumps({"occurred_at": at.isoformat(), "tag": tag}).encode()

    first = encode_lines([line(0, "a0"), line(5, "a5"), line(5, "a5b"), line(9, "a9")])
    # The same instants written with another offset still sort by the instant, not by the text.
    second = encode_lines([line(1, "b1", -5), line(5, "b5", 3), line(7, "b7", -5)])
    merged = merge_by_time([first, second], json.loads, lambda v: datetime.fromisoformat(v["occurred_at"]))
    assert [v["tag"] for v in merged] == ["a0", "b1", "a5", "a5b", "b5", "b7", "a9"]


def test_body_lines_skips_blank_lines() -> None:
    body = gzip.compress(b'{"a":1}\n\n  \n{"b":2}\n')
    assert list(body_lines(body)) == [b'{"a":1}\n', b'{"b":2}\n']
    assert list(decode_lines(body)) == [{"a": 1}, {"b": 2}]


def test_an_archived_event_knows_its_day() -> None:
    event = ArchivedEvent(event_id=uuid.uuid4(), topic="t", line=b"{}",
                          occurred_at=datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert event.day == date(2026, 2, 28)
