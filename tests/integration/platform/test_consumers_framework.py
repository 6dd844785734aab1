"""The Kafka consumer framework against the real broker, PostgreSQL and the AWS emulator (SQS DLQ).

Records are produced with kafka-python, polled back and wrapped the way the event source mapping (and the
local cloud's poller) wraps them, then handed to the consumer's Lambda entry point.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from smartcourse.consumers import DeadLetterError, EventConsumer
from smartcourse.consumers import dlq as dlq_module
from smartcourse.db.engine import normalise_url
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event
from sqlalchemy import Connection, Engine, create_engine, text

from tests.support.auth import count, fresh_database
from tests.support.consumers import consumer_function
from tests.support.paths import pythonpath

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CONSUMER = "it-consumer"


# --- Kafka: produce, poll back, wrap as a Lambda event -------------------------------------------------------


def kafka_event(kafka: Any, values: Sequence[tuple[bytes | None, bytes]], partitions: int = 1) -> dict[str, Any]:
    """Produce ``(key, value)`` pairs to a fresh topic and return them as one MSK Lambda event."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from localcloud.mappings import kafka_record

    topic = f"it-consumers-{uuid.uuid4().hex[:10]}"
    kafka.create_topics([topic], partitions=partitions)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    try:
        for key, value in values:
            producer.send(topic, key=key, value=value, headers=[("trace", b"t-1")]).get(timeout=10)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        polled: dict[Any, list[Any]] = {}
        for _ in range(40):
            for tp, records in consumer.poll(timeout_ms=500).items():
                polled.setdefault(tp, []).extend(records)
            if sum(len(r) for r in polled.values()) >= len(values):
                break
    finally:
        consumer.close()
    assert sum(len(r) for r in polled.values()) == len(values)
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/it/00000000-0000-0000-0000-000000000000-1",
        "bootstrapServers": kafka.bootstrap,
        "records": {f"{tp.topic}-{tp.partition}": [kafka_record(r) for r in sorted(rs, key=lambda r: r.offset)]
                    for tp, rs in sorted(polled.items(), key=lambda item: item[0].partition)},
    }


def envelope(course_id: uuid.UUID | None = None, *, ok: bool = True) -> EventEnvelope:
    course_id = course_id or uuid.uuid4()
    if ok:
        return build_event({"course_id": str(course_id), "chunks": 3, "embeddings": 3, "summary_ready": True},
                           event_type="course.processing_completed")
    return build_event({"course_id": str(course_id), "error": "embedding model unavailable"},
                       event_type="course.processing_failed")


def encoded(env: EventEnvelope) -> tuple[bytes, bytes]:
    return env.key.encode(), json.dumps(env.to_json_dict()).encode()


def records_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for chunk in event["records"].values() for r in chunk]


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db_url(postgres: Any) -> str:
    url = fresh_database(postgres, prefix="consumers")
    eng = create_engine(normalise_url(url))
    with eng.begin() as conn:
        # The observable side of the test effects: no unique key, so a double application shows as two rows.
        conn.execute(text("CREATE TABLE consumer_effects (event_id uuid NOT NULL, event_type text NOT NULL)"))
    eng.dispose()
    return url


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(normalise_url(db_url), pool_size=2, max_overflow=2)
    yield eng
    eng.dispose()


@pytest.fixture
def sqs(moto: Any) -> Any:
    import boto3

    dlq_module.reset_client()
    yield boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    dlq_module.reset_client()


@pytest.fixture
def dlq_url(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"consumer-dlq-{uuid.uuid4().hex[:10]}")["QueueUrl"])


def dead_letters(sqs: Any, queue_url: str, expected: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(10):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        messages += [json.loads(m["Body"]) for m in got]
        if len(messages) >= expected and not got:
            break
    return messages


def record_effect(envelope: EventEnvelope, conn: Connection) -> None:
    conn.execute(text("INSERT INTO consumer_effects (event_id, event_type) VALUES (:id, :t)"),
                 {"id": envelope.event_id, "t": envelope.event_type})


def effects_for(engine: Engine, *envelopes: EventEnvelope) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM consumer_effects WHERE event_id = ANY(:ids)"),
                                {"ids": [e.event_id for e in envelopes]}).scalar_one())


def processed_for(engine: Engine, *envelopes: EventEnvelope, consumer: str = CONSUMER) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM processed_events WHERE consumer = :c "
                                     "AND event_id = ANY(:ids)"),
                                {"c": consumer, "ids": [e.event_id for e in envelopes]}).scalar_one())


def make_consumer(engine: Engine, dlq_url: str | None, **overrides: Any) -> EventConsumer:
    options: dict[str, Any] = {"name": CONSUMER, "engine": lambda: engine, "dlq_url": dlq_url,
                               "max_attempts": 3, "backoff_seconds": 0.01,
                               "effects": {"course.processing_completed": record_effect,
                                           "course.processing_failed": record_effect}}
    options.update(overrides)
    return EventConsumer(function=consumer_function(options["effects"]), **options)


# --- tests ------------------------------------------------------------------------------------------------------


def test_batch_applies_each_event_once_in_one_transaction_with_its_claim(kafka: Any, engine: Engine,
                                                                         dlq_url: str) -> None:
    envelopes = [envelope(), envelope(ok=False), envelope()]
    event = kafka_event(kafka, [encoded(e) for e in envelopes], partitions=3)
    consumer = make_consumer(engine, dlq_url)

    summary = consumer.lambda_handler(event, None)

    assert summary == {"records": 3, "applied": 3, "skipped_duplicates": 0, "ignored": 0, "dead_lettered": 0}
    assert effects_for(engine, *envelopes) == 3
    assert processed_for(engine, *envelopes) == 3
    assert count(engine, "SELECT count(*) FROM processed_events WHERE consumer = :c AND event_id = :e "
                 "AND event_type = 'course.processing_failed'", c=CONSUMER, e=envelopes[1].event_id) == 1


def test_duplicate_delivery_is_applied_once(kafka: Any, engine: Engine, dlq_url: str) -> None:
    first, second = envelope(), envelope()
    # The same event twice in one batch (a producer retry), then the whole batch redelivered.
    event = kafka_event(kafka, [encoded(first), encoded(second), encoded(first)])
    consumer = make_consumer(engine, dlq_url)

    assert consumer.handle(event, None) == {"records": 3, "applied": 2, "skipped_duplicates": 1, "ignored": 0,
                                            "dead_lettered": 0}
    assert consumer.handle(event, None)["skipped_duplicates"] == 3

    assert effects_for(engine, first) == 1
    assert effects_for(engine, second) == 1
    assert processed_for(engine, first, second) == 2
    # Another consumer of the same event keeps its own claim.
    other = make_consumer(engine, dlq_url, name="it-other-consumer")
    assert other.handle(event, None)["applied"] == 2
    assert processed_for(engine, first, second, consumer="it-other-consumer") == 2


def test_unknown_types_and_types_without_an_effect_are_ignored(kafka: Any, engine: Engine, dlq_url: str,
                                                              sqs: Any) -> None:
    known = envelope()
    unknown = known.to_json_dict() | {"event_id": str(uuid.uuid4()), "event_type": "course.teleported"}
    newer = known.to_json_dict() | {"event_id": str(uuid.uuid4()), "event_version": 99}
    archived = build_event({"course_id": str(uuid.uuid4())}, event_type="course.archived")
    with_extra_field = known.to_json_dict() | {"event_id": str(uuid.uuid4()),
                                               "payload": known.payload | {"added_later": "tolerated"}}
    event = kafka_event(kafka, [(None, json.dumps(unknown).encode()), (None, json.dumps(newer).encode()),
                                encoded(archived), encoded(known), (None, json.dumps(with_extra_field).encode())])

    summary = make_consumer(engine, dlq_url).handle(event, None)

    assert summary == {"records": 5, "applied": 2, "skipped_duplicates": 0, "ignored": 3, "dead_lettered": 0}
    assert count(engine, "SELECT count(*) FROM processed_events WHERE event_id = ANY(:ids)",
                 ids=[uuid.UUID(unknown["event_id"]), uuid.UUID(newer["event_id"]), archived.event_id]) == 0
    assert dead_letters(sqs, dlq_url, 0) == []


def test_poison_records_go_to_the_dlq_with_the_original_record_and_the_rest_succeeds(
        kafka: Any, engine: Engine, dlq_url: str, sqs: Any) -> None:
    before, after = envelope(), envelope()
    invalid = envelope().to_json_dict()
    invalid["payload"] = {"course_id": "not-a-uuid"}
    event = kafka_event(kafka, [encoded(before), (b"k-1", b"{not json"), (b"k-2", json.dumps(invalid).encode()),
                                encoded(after)])
    raw = records_of(event)
    calls: list[uuid.UUID] = []

    def counting_effect(env: EventEnvelope, conn: Connection) -> None:
        calls.append(env.event_id)
        record_effect(env, conn)

    summary = make_consumer(engine, dlq_url, effects={"course.processing_completed": counting_effect}).handle(
        event, None)

    assert summary == {"records": 4, "applied": 2, "skipped_duplicates": 0, "ignored": 0, "dead_lettered": 2}
    assert calls == [before.event_id, after.event_id]
    assert effects_for(engine, before, after) == 2
    messages = sorted(dead_letters(sqs, dlq_url, 2), key=lambda m: m["record"]["offset"])
    assert len(messages) == 2
    bad_json, bad_schema = messages
    for message, original in zip(messages, raw[1:3], strict=True):
        assert message["consumer"] == CONSUMER
        assert message["attempts"] == 1  # poison: never retried
        assert message["failed_at"]
        record = message["record"]
        for field in ("topic", "partition", "offset", "timestamp", "key", "value", "headers"):
            assert record[field] == original[field], field
    assert base64.b64decode(bad_json["record"]["value"]) == b"{not json"
    assert base64.b64decode(bad_json["record"]["key"]) == b"k-1"
    assert bad_json["record"]["headers"] == [{"trace": list(b"t-1")}]
    assert bad_json["error"]["type"] == "KafkaConsumerDeserializationError"
    assert bad_schema["error"]["type"] == "ValidationError"
    assert "course_id" in bad_schema["error"]["message"]
    assert json.loads(base64.b64decode(bad_schema["record"]["value"])) == invalid


def test_an_effect_that_keeps_failing_is_retried_then_dead_lettered(kafka: Any, engine: Engine, dlq_url: str,
                                                                     sqs: Any, capsys: pytest.CaptureFixture[str]
                                                                     ) -> None:
    failing, fine = envelope(), envelope()
    event = kafka_event(kafka, [encoded(failing), encoded(fine)])
    attempts: list[uuid.UUID] = []

    def flaky(env: EventEnvelope, conn: Connection) -> None:
        record_effect(env, conn)  # written, then rolled back with the claim
        if env.event_id == failing.event_id:
            attempts.append(env.event_id)
            raise RuntimeError("downstream said no")

    consumer = make_consumer(engine, dlq_url, max_attempts=4, effects={"course.processing_completed": flaky})
    summary = consumer.handle(event, None)

    assert summary == {"records": 2, "applied": 1, "skipped_duplicates": 0, "ignored": 0, "dead_lettered": 1}
    assert len(attempts) == 4
    assert effects_for(engine, failing) == 0
    assert processed_for(engine, failing) == 0
    assert effects_for(engine, fine) == 1
    [message] = dead_letters(sqs, dlq_url, 1)
    assert message["attempts"] == 4
    assert message["error"] == {"type": "RuntimeError", "message": "downstream said no"}
    assert json.loads(base64.b64decode(message["record"]["value"]))["event_id"] == str(failing.event_id)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    assert [m["ConsumerRecordsDeadLettered"] for m in metrics] == [[1.0]]
    assert metrics[0]["consumer"] == CONSUMER


class LambdaContext:
    """What the consumer reads from Lambda's context: the time left in the invocation."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_retries_stop_when_the_invocation_runs_out_of_time(kafka: Any, engine: Engine, dlq_url: str,
                                                           sqs: Any) -> None:
    envelopes = [envelope(), envelope()]
    event = kafka_event(kafka, [encoded(e) for e in envelopes])
    calls: list[uuid.UUID] = []

    def failing(env: EventEnvelope, conn: Connection) -> None:
        calls.append(env.event_id)
        raise RuntimeError("nope")

    consumer = make_consumer(engine, dlq_url, max_attempts=5, effects={"course.processing_completed": failing})

    assert consumer.lambda_handler(event, LambdaContext(remaining_ms=3_000))["dead_lettered"] == 2
    assert calls == [e.event_id for e in envelopes]  # one attempt each
    assert [m["attempts"] for m in dead_letters(sqs, dlq_url, 2)] == [1, 1]

    calls.clear()
    consumer.handle(kafka_event(kafka, [encoded(envelope())]), LambdaContext(remaining_ms=60_000))
    assert len(calls) == 5


def test_an_effect_that_recovers_within_the_attempts_is_applied(kafka: Any, engine: Engine, dlq_url: str,
                                                                sqs: Any) -> None:
    env = envelope()
    event = kafka_event(kafka, [encoded(env)])
    failures = iter([RuntimeError("blip")])

    def once_flaky(e: EventEnvelope, conn: Connection) -> None:
        record_effect(e, conn)
        failure = next(failures, None)
        if failure:
            raise failure

    summary = make_consumer(engine, dlq_url, effects={"course.processing_completed": once_flaky}).handle(event, None)

    assert summary["applied"] == 1
    assert effects_for(engine, env) == 1
    assert dead_letters(sqs, dlq_url, 0) == []


def test_dlq_unreachable_fails_the_batch_and_records_nothing_for_that_record(
        kafka: Any, engine: Engine, sqs: Any, moto: Any) -> None:
    applied_first, failing, never_reached = envelope(), envelope(), envelope()
    event = kafka_event(kafka, [encoded(applied_first), encoded(failing), encoded(never_reached)])

    def broken(env: EventEnvelope, conn: Connection) -> None:
        record_effect(env, conn)
        if env.event_id == failing.event_id:
            raise RuntimeError("still broken")

    missing_queue = f"{moto.endpoint}/000000000000/no-such-queue-{uuid.uuid4().hex[:8]}"
    effects = {"course.processing_completed": broken}
    with pytest.raises(DeadLetterError):
        make_consumer(engine, missing_queue, effects=effects).lambda_handler(event, None)
    with pytest.raises(DeadLetterError, match="no dead-letter queue configured"):
        make_consumer(engine, None, effects=effects).handle(event, None)

    assert processed_for(engine, applied_first) == 1
    assert processed_for(engine, failing, never_reached) == 0
    assert effects_for(engine, failing, never_reached) == 0

    # The redelivered batch, once the DLQ is back: the first record is not applied twice.
    queue = str(sqs.create_queue(QueueName=f"consumer-dlq-{uuid.uuid4().hex[:10]}")["QueueUrl"])
    summary = make_consumer(engine, queue, effects=effects).handle(event, None)
    assert summary == {"records": 3, "applied": 1, "skipped_duplicates": 1, "ignored": 0, "dead_lettered": 1}
    assert effects_for(engine, applied_first) == 1
    assert effects_for(engine, never_reached) == 1
    assert len(dead_letters(sqs, queue, 1)) == 1


def test_database_unreachable_fails_the_batch_instead_of_dead_lettering(kafka: Any, dlq_url: str,
                                                                        sqs: Any) -> None:
    from localcloud.services import free_port

    down = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
                         connect_args={"connect_timeout": 2})
    event = kafka_event(kafka, [encoded(envelope())])
    from sqlalchemy.exc import OperationalError

    with pytest.raises(OperationalError):
        make_consumer(down, dlq_url, max_attempts=2).handle(event, None)
    assert dead_letters(sqs, dlq_url, 0) == []


CRASH_SCRIPT = """
import json, os, sys
from sqlalchemy import create_engine, text
from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import normalise_url
from tests.support.consumers import consumer_function

db_url, event_path = sys.argv[1], sys.argv[2]
engine = create_engine(normalise_url(db_url))
seen = []

def effect(envelope, conn):
    conn.execute(text("INSERT INTO consumer_effects (event_id, event_type) VALUES (:id, :t)"),
                 {"id": envelope.event_id, "t": envelope.event_type})
    seen.append(envelope.event_id)
    if len(seen) == 3:
        os._exit(17)  # the sandbox dies mid-transaction: no rollback, no commit, no cleanup

consumer = EventConsumer(function=consumer_function(["course.processing_completed"]), name=%(name)r,
                         effects={"course.processing_completed": effect}, engine=lambda: engine,
                         dlq_url="http://127.0.0.1:1/unused", max_attempts=1)
with open(event_path) as fh:
    consumer.lambda_handler(json.load(fh), None)
"""


@pytest.mark.slow
def test_a_crash_mid_batch_then_redelivery_applies_each_event_exactly_once(
        kafka: Any, engine: Engine, db_url: str, dlq_url: str, tmp_path: Path) -> None:
    envelopes = [envelope() for _ in range(6)]
    event = kafka_event(kafka, [encoded(e) for e in envelopes])
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    env = {**os.environ, "PYTHONPATH": pythonpath()}

    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT % {"name": CONSUMER}, db_url, str(event_path)],
                             env=env, capture_output=True, text=True, timeout=120)

    assert crashed.returncode == 17, crashed.stderr
    # Two records committed before the crash; the third's transaction died with the process.
    assert processed_for(engine, *envelopes) == 2
    assert effects_for(engine, *envelopes) == 2

    summary = make_consumer(engine, dlq_url).lambda_handler(event, None)

    assert summary == {"records": 6, "applied": 4, "skipped_duplicates": 2, "ignored": 0, "dead_lettered": 0}
    assert processed_for(engine, *envelopes) == 6
    for env_ in envelopes:
        assert effects_for(engine, env_) == 1


def test_an_effect_not_ready_yet_fails_the_batch_for_redelivery_then_dead_letters_past_its_window(
        kafka: Any, engine: Engine, dlq_url: str, sqs: Any) -> None:
    from smartcourse.consumers import RetryLater

    first, waiting = envelope(), envelope()
    event = kafka_event(kafka, [encoded(first), encoded(waiting)])
    ready: list[bool] = [False]

    def needs_projection(env: EventEnvelope, conn: Connection) -> None:
        if env.event_id == waiting.event_id and not ready[0]:
            raise RetryLater("the course projection has not arrived yet")
        record_effect(env, conn)

    consumer = make_consumer(engine, dlq_url, effects={"course.processing_completed": needs_projection})
    with pytest.raises(RetryLater):
        consumer.handle(event, None)
    assert processed_for(engine, first) == 1 and processed_for(engine, waiting) == 0
    ready[0] = True  # the other topic's event arrived; the mapping redelivers the same batch
    assert consumer.handle(event, None) == {"records": 2, "applied": 1, "skipped_duplicates": 1, "ignored": 0,
                                             "dead_lettered": 0}
    assert effects_for(engine, first, waiting) == 2

    late, never = envelope(), envelope()
    stale = make_consumer(engine, dlq_url, retry_window_seconds=0.0,
                          effects={"course.processing_completed": lambda env, conn: (_ for _ in ()).throw(
                              RetryLater("never arrives"))})
    summary = stale.handle(kafka_event(kafka, [encoded(late), encoded(never)]), None)
    assert summary["dead_lettered"] == 2
    assert [m["error"]["type"] for m in dead_letters(sqs, dlq_url, 2)] == ["RetryLater", "RetryLater"]
