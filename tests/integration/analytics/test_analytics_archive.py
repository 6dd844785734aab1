"""The deployed event archiver (``analytics-archive-events``) with MSK-shaped batches of every topic, a real
analytics database (the ledger) and the AWS emulator's S3 and SQS: objects by topic and UTC day holding gzip
JSON Lines that read back as the same envelopes, each event archived once however often it is delivered (also
after a crash between the upload and the commit), poison records dead-lettered while the batch goes on, and an
S3 or database outage failing the batch without a trace in the ledger."""

from __future__ import annotations

import base64
import importlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from smartcourse.consumers import dlq as dlq_module
from smartcourse.consumers.dlq import DeadLetterError
from smartcourse_analytics.archive import archived_event, decode_lines, parse_key, plan_objects
from smartcourse_analytics.archive_store import S3Archive, archive_batch
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event, topic_for
from smartcourse_events.topics import ALL_TOPICS, USER_EVENTS
from sqlalchemy import Engine, text

from stacks.services import function
from tests.support.analytics import T0, World, days
from tests.support.events import sample_events

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(analytics_db: Engine) -> Engine:
    return analytics_db


@pytest.fixture
def aws(moto: Any) -> dict[str, Any]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    bucket = f"archive-{suffix}"
    s3.create_bucket(Bucket=bucket)
    dlq = str(sqs.create_queue(QueueName=f"archive-dlq-{suffix}")["QueueUrl"])
    return {"s3": s3, "sqs": sqs, "bucket": bucket, "dlq": dlq}


def _reset() -> None:
    from smartcourse.aws_clients import reset_clients
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings

    get_settings.cache_clear()
    engine_module.reset_engine()
    dlq_module.reset_client()
    reset_clients()


@pytest.fixture
def handler(analytics_url: str, aws: dict[str, Any], moto: Any, db: Engine,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DATABASE_URL", analytics_url)
    monkeypatch.setenv("SERVICE_NAME", "analytics")
    monkeypatch.setenv("ARCHIVE_BUCKET", aws["bucket"])
    monkeypatch.setenv("CONSUMER_DLQ_URL", aws["dlq"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    with db.begin() as conn:
        conn.execute(text("TRUNCATE archived_events"))
    _reset()
    yield importlib.import_module(function("analytics-archive-events").module).handler
    _reset()


# --- helpers ------------------------------------------------------------------------------------------------

def record(topic: str, value: bytes, offset: int) -> dict[str, Any]:
    return {"topic": topic, "partition": 0, "offset": offset, "timestamp": 1_700_000_000_000,
            "timestampType": "CREATE_TIME", "key": base64.b64encode(b"k").decode(),
            "value": base64.b64encode(value).decode(), "headers": []}


def kafka_event(items: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The MSK Lambda event for (topic, raw value) pairs, one partition per topic, in the given order."""
    records: dict[str, list[dict[str, Any]]] = {}
    for topic, value in items:
        chunk = records.setdefault(f"{topic}-0", [])
        chunk.append(record(topic, value, len(chunk)))
    return {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/it/1",
            "bootstrapServers": "127.0.0.1:9092", "records": records}


def batch(*envelopes: EventEnvelope) -> dict[str, Any]:
    return kafka_event([(topic_for(e.event_type, e.event_version), json.dumps(e.to_json_dict()).encode())
                        for e in envelopes])


def archive_contents(aws: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every object of the bucket and its lines."""
    s3, bucket = aws["s3"], aws["bucket"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    return {key: list(decode_lines(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) for key in keys}


def archived_ids(aws: dict[str, Any]) -> list[str]:
    return [line["event_id"] for lines in archive_contents(aws).values() for line in lines]


def ledger(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        return {str(i): k for i, k in conn.execute(text("SELECT event_id, object_key FROM archived_events"))}


def drain(aws: dict[str, Any]) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while got := aws["sqs"].receive_message(QueueUrl=aws["dlq"], MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            bodies.append(json.loads(message["Body"]))
            aws["sqs"].delete_message(QueueUrl=aws["dlq"], ReceiptHandle=message["ReceiptHandle"])
    return bodies


def story() -> list[EventEnvelope]:
    """Events of every topic over three days (the analytics nudge included)."""
    w = World()
    teacher = w.user("Tea Cher", ("instructor",))
    ann = w.user("Ann", at=T0 + days(1))
    course = w.course(teacher, "Pottery", (2, 1))
    enrollment = w.enroll(course, ann, T0 + days(1))
    w.complete_asset(course, enrollment, ann, 0, T0 + days(1))
    w.complete_asset(course, enrollment, ann, 1, T0 + days(2))
    w.nudge(course, ann, teacher, T0 + days(2))
    return w.events


# --- tests --------------------------------------------------------------------------------------------------

def test_every_event_lands_once_under_its_topic_and_utc_day_as_the_same_envelope(
        handler: Any, aws: dict[str, Any], db: Engine) -> None:
    events = story()
    summary = handler(batch(*events), None)
    assert summary == {"records": len(events), "archived": len(events), "duplicates": 0,
                       "objects": summary["objects"], "dead_lettered": 0}
    contents = archive_contents(aws)
    expected_partitions = {(topic_for(e.event_type), e.occurred_at.astimezone(UTC).date()) for e in events}
    assert summary["objects"] == len(contents) == len(expected_partitions)
    for key, lines in contents.items():
        parts = parse_key(key)
        assert parts is not None and key == (f"events/topic={parts.topic}/date={parts.day.isoformat()}/"
                                             f"{parts.name}.jsonl.gz")
        assert {(parts.topic, parts.day)} == {(topic_for(line["event_type"]), datetime.fromisoformat(
            line["occurred_at"]).astimezone(UTC).date()) for line in lines}
        times = [datetime.fromisoformat(line["occurred_at"]) for line in lines]
        assert times == sorted(times)
    assert {p.topic for key in contents if (p := parse_key(key))} == set(ALL_TOPICS)
    read = sorted((EventEnvelope.model_validate(line) for lines in contents.values() for line in lines),
                  key=lambda e: str(e.event_id))
    assert read == sorted(events, key=lambda e: str(e.event_id))
    # The ledger names the object each event is in.
    assert ledger(db) == {line["event_id"]: key for key, lines in contents.items() for line in lines}


def test_a_redelivered_batch_writes_nothing_and_an_overlapping_one_only_its_new_events(
        handler: Any, aws: dict[str, Any], db: Engine) -> None:
    events = story()
    handler(batch(*events), None)
    first = archive_contents(aws)
    again = handler(batch(*events), None)
    assert (again["archived"], again["duplicates"], again["objects"]) == (0, len(events), 0)
    assert archive_contents(aws) == first
    extra = sample_events(["user.email_verified", "progress.updated"])
    mixed = handler(batch(*events[:3], *extra, events[3]), None)
    assert (mixed["archived"], mixed["duplicates"]) == (2, 4)
    ids = archived_ids(aws)
    assert sorted(ids) == sorted({str(e.event_id) for e in (*events, *extra)})  # each event exactly once
    assert len(ledger(db)) == len(ids)


def test_a_batch_delivered_again_after_a_crash_before_the_commit_rewrites_the_same_objects(
        handler: Any, aws: dict[str, Any], db: Engine) -> None:
    events = story()
    objects = plan_objects([archived_event(topic_for(e.event_type), e.to_json_dict()) for e in events])

    class Crash(Exception):
        pass

    with pytest.raises(Crash), db.begin() as conn:  # uploaded, then the function dies: no commit
        archive_batch(conn, S3Archive(aws["bucket"], aws["s3"]), objects)
        raise Crash
    crashed = archive_contents(aws)
    assert len(crashed) == len(objects) and ledger(db) == {}
    summary = handler(batch(*events), None)
    assert summary["archived"] == len(events)
    assert archive_contents(aws) == crashed  # the same keys, the same lines: no second copy
    assert sorted(archived_ids(aws)) == sorted(str(e.event_id) for e in events)


def test_poison_records_are_dead_lettered_and_the_rest_including_unknown_types_is_archived(
        handler: Any, aws: dict[str, Any], db: Engine) -> None:
    good = sample_events(["user.registered"])[0]
    unknown = {**build_event({"user_id": str(uuid.uuid4())}, event_type="user.email_verified").to_json_dict(),
               "event_type": "badge.awarded", "event_version": 2, "payload": {"badge": "gold"}}
    poison = [b"{not json", b'"a JSON string"', json.dumps({"event_id": str(uuid.uuid4())}).encode()]
    event = kafka_event([(USER_EVENTS, poison[0]), (USER_EVENTS, json.dumps(good.to_json_dict()).encode()),
                         (USER_EVENTS, poison[1]), ("smartcourse.badge-events", json.dumps(unknown).encode()),
                         (USER_EVENTS, poison[2])])
    summary = handler(event, None)
    assert (summary["archived"], summary["dead_lettered"]) == (2, 3)
    dead = drain(aws)
    assert [base64.b64decode(d["record"]["value"]) for d in dead] == poison
    assert {d["consumer"] for d in dead} == {"analytics-archive"}
    contents = archive_contents(aws)
    assert sorted(line["event_id"] for lines in contents.values() for line in lines) == sorted(
        [str(good.event_id), unknown["event_id"]])
    [badge_key] = [k for k in contents if k.startswith("events/topic=smartcourse.badge-events/")]
    assert contents[badge_key] == [unknown]  # as the topic carried it


def test_without_a_dead_letter_queue_the_batch_fails_after_archiving_the_good_records(
        handler: Any, aws: dict[str, Any], db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSUMER_DLQ_URL")
    _reset()
    good = sample_events(["user.registered"])[0]
    event = kafka_event([(USER_EVENTS, b"\xff\xfe"), (USER_EVENTS, json.dumps(good.to_json_dict()).encode())])
    with pytest.raises(DeadLetterError):
        handler(event, None)
    assert archived_ids(aws) == [str(good.event_id)]
    with pytest.raises(DeadLetterError):  # the redelivery fails the same way, and archives nothing twice
        handler(event, None)
    assert archived_ids(aws) == [str(good.event_id)]


def test_an_s3_outage_fails_the_batch_and_leaves_the_ledger_untouched(
        handler: Any, aws: dict[str, Any], db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_BUCKET", f"missing-{uuid.uuid4().hex[:8]}")
    _reset()
    events = story()
    with pytest.raises(Exception, match="NoSuchBucket"):
        handler(batch(*events), None)
    assert ledger(db) == {}
    monkeypatch.setenv("ARCHIVE_BUCKET", aws["bucket"])
    _reset()
    assert handler(batch(*events), None)["archived"] == len(events)  # the redelivery archives everything


def test_a_database_outage_fails_the_batch_before_anything_is_uploaded(
        handler: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud.services import free_port
    from sqlalchemy.exc import OperationalError

    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    _reset()
    with pytest.raises(OperationalError):
        handler(batch(*story()), None)
    assert archive_contents(aws) == {}


def test_one_batch_spanning_midnight_utc_writes_one_object_per_day(handler: Any, aws: dict[str, Any]) -> None:
    late = datetime(2026, 5, 31, 23, 59, 59, 999000, tzinfo=UTC)
    events = [build_event({"user_id": str(uuid.uuid4())}, event_type="user.email_verified", occurred_at=at)
              for at in (late, late + timedelta(milliseconds=2), late - timedelta(hours=1))]
    assert handler(batch(*events), None)["objects"] == 2
    days_found = sorted((p.day, len(lines)) for k, lines in archive_contents(aws).items() if (p := parse_key(k)))
    assert days_found == [(date(2026, 5, 31), 2), (date(2026, 6, 1), 1)]
