"""Redriving dead-lettered records from the SQS DLQ (AWS emulator) back into a consumer, against real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from smartcourse.consumers import EventConsumer
from smartcourse.consumers.redrive import event_from_records, redrive
from smartcourse_events.envelope import EventEnvelope
from sqlalchemy import Connection, Engine

import tests.integration.platform.test_consumers_framework as fw
from tests.integration.platform.test_consumers_framework import (
    dead_letters,
    effects_for,
    encoded,
    envelope,
    kafka_event,
    make_consumer,
    processed_for,
    records_of,
)

pytestmark = pytest.mark.integration

# The framework tests' fixtures: a migrated database with the effects table, and a fresh DLQ per test.
db_url, engine, sqs, dlq_url = fw.db_url, fw.engine, fw.sqs, fw.dlq_url


def accepted_by(consumer: EventConsumer, calls: list[int] | None = None) -> Any:
    """What ``lambda_invoker`` tells of a deployed consumer: a function error, or the record dead-lettered anew."""
    def invoke(event: dict[str, Any]) -> bool:
        if calls is not None:
            calls.append(1)
        try:
            summary = consumer.lambda_handler(event, None)
        except Exception:
            return False
        return summary["dead_lettered"] == 0

    return invoke


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_dead_letter_rebuilds_the_original_record(kafka: Any, engine: Engine, dlq_url: str, sqs: Any) -> None:
    event = kafka_event(kafka, [(b"not", b"{json")])
    make_consumer(engine, dlq_url).handle(event, None)
    [message] = dead_letters(sqs, dlq_url, 1)

    rebuilt = event_from_records([message["record"]])

    assert rebuilt["records"] == event["records"]
    assert rebuilt["eventSource"] == "aws:kafka"


def test_redrive_applies_fixed_records_once_and_leaves_other_consumers_messages(
        kafka: Any, engine: Engine, dlq_url: str, sqs: Any) -> None:
    envelopes = [envelope(), envelope()]
    event = kafka_event(kafka, [encoded(e) for e in envelopes])

    def broken(env: EventEnvelope, conn: Connection) -> None:
        raise RuntimeError("bug in the effect")

    effects = {"course.processing_completed": broken}
    assert make_consumer(engine, dlq_url, effects=effects, max_attempts=1).handle(event, None)["dead_lettered"] == 2
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(
        {"consumer": "someone-else", "record": records_of(event)[0], "attempts": 1, "error": {}}))
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(
        {"consumer": "it-consumer", "record": {**records_of(event)[0], "value": None, "value_truncated": True},
         "attempts": 1, "error": {}}))
    assert processed_for(engine, *envelopes) == 0

    # The bug is fixed (the default effect records the event) and the DLQ is redriven.
    fixed = make_consumer(engine, dlq_url)
    result = redrive(sqs, dlq_url, "it-consumer", accepted_by(fixed))

    assert (result.redriven, result.failed, result.skipped_other_consumer, result.skipped_unrecoverable) == (2, 0, 1, 1)
    assert processed_for(engine, *envelopes) == 2
    for env in envelopes:
        assert effects_for(engine, env) == 1
    assert queue_depth(sqs, dlq_url) == 2  # the other consumer's and the unrecoverable message remain
    # Redriving an already applied record (a second redrive of a copy) is a duplicate, not a second effect.
    assert fixed.handle(event_from_records(records_of(event)), None)["skipped_duplicates"] == 2
    assert effects_for(engine, *envelopes) == 2


def test_a_record_that_fails_again_stays_in_the_queue(kafka: Any, engine: Engine, dlq_url: str, sqs: Any,
                                                      moto: Any) -> None:
    env = envelope()
    event = kafka_event(kafka, [encoded(env)])

    def broken(e: EventEnvelope, conn: Connection) -> None:
        raise RuntimeError("still broken")

    make_consumer(engine, dlq_url, effects={"course.processing_completed": broken}, max_attempts=1).handle(event, None)
    # The consumer cannot dead-letter (its DLQ is gone), so the invocation fails and the message must stay.
    nowhere = f"{moto.endpoint}/000000000000/gone-{uuid.uuid4().hex[:8]}"
    still_broken = make_consumer(engine, nowhere, effects={"course.processing_completed": broken}, max_attempts=1)

    result = redrive(sqs, dlq_url, "it-consumer", accepted_by(still_broken))

    assert (result.redriven, result.failed) == (0, 1)
    assert queue_depth(sqs, dlq_url) == 1
    assert processed_for(engine, env) == 0


def test_a_record_dead_lettered_again_keeps_its_message_and_is_not_retried_in_the_same_run(
        kafka: Any, engine: Engine, dlq_url: str, sqs: Any) -> None:
    env = envelope()

    def broken(e: EventEnvelope, conn: Connection) -> None:
        raise RuntimeError("still broken")

    consumer = make_consumer(engine, dlq_url, effects={"course.processing_completed": broken}, max_attempts=1)
    consumer.handle(kafka_event(kafka, [encoded(env)]), None)
    calls: list[int] = []
    result = redrive(sqs, dlq_url, "it-consumer", accepted_by(consumer, calls), max_messages=10)

    assert (result.redriven, result.failed, result.skipped_tried) == (0, 1, 1)
    assert len(calls) == 1  # the fresh copy met in the same run was not redriven again
    assert queue_depth(sqs, dlq_url) == 2  # the original (kept) and the consumer's new dead letter
    assert processed_for(engine, env) == 0
