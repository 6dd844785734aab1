"""Pure parts of the consumer framework: the dead-letter message, record decoding and ignoring, configuration.

Nothing here reaches a database: the engine factory fails the test if a path that must not touch it does.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from smartcourse.consumers import DeadLetterError, EventConsumer, dead_letter_message, typed_payload
from smartcourse.consumers.dlq import SQS_MAX_BODY_BYTES, encode_message, send_dead_letter
from smartcourse_events.course import CourseProcessingFailedV1
from smartcourse_events.registry import build_event
from sqlalchemy import Engine

from tests.support.consumers import consumer_function


def no_database() -> Engine:
    raise AssertionError("this path must not touch the database")


def record(value: bytes | None, *, key: bytes | None = b"k", offset: int = 0) -> dict[str, Any]:
    return {"topic": "smartcourse.course-events", "partition": 2, "offset": offset, "timestamp": 1_700_000_000_000,
            "timestampType": "CREATE_TIME", "key": base64.b64encode(key).decode() if key is not None else None,
            "value": base64.b64encode(value).decode() if value is not None else None,
            "headers": [{"trace": [116, 49]}]}


def event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "bootstrapServers": "b-1:9098",
            "records": {"smartcourse.course-events-2": list(records)}}


def completed() -> bytes:
    envelope = build_event({"course_id": str(uuid.uuid4()), "chunks": 1, "embeddings": 1, "summary_ready": False},
                           event_type="course.processing_completed")
    return json.dumps(envelope.to_json_dict()).encode()


def consumer(**overrides: Any) -> EventConsumer:
    options: dict[str, Any] = {"name": "unit", "effects": {}, "engine": no_database, "dlq_url": None}
    options |= overrides
    return EventConsumer(function=consumer_function(options["effects"]), **options)


def test_dead_letter_message_keeps_the_original_record_and_the_error() -> None:
    raw = record(b"{oops", key=b"key-1", offset=41) | {"eventSourceArn": "ignored"}
    when = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    message = dead_letter_message("c", raw, ValueError("bad thing"), 3, failed_at=when)

    assert message == {
        "consumer": "c",
        "error": {"type": "ValueError", "message": "bad thing"},
        "attempts": 3,
        "failed_at": "2026-11-24T10:00:00+00:00",
        "record": {"topic": "smartcourse.course-events", "partition": 2, "offset": 41,
                   "timestamp": 1_700_000_000_000, "timestampType": "CREATE_TIME",
                   "key": base64.b64encode(b"key-1").decode(), "value": base64.b64encode(b"{oops").decode(),
                   "headers": [{"trace": [116, 49]}]},
    }
    assert json.loads(encode_message(message)) == message


def test_an_oversized_record_keeps_its_coordinates_but_not_its_value() -> None:
    message = dead_letter_message("c", record(b"x" * SQS_MAX_BODY_BYTES, offset=7), RuntimeError("big"), 1)

    body = encode_message(message)

    assert len(body.encode()) < SQS_MAX_BODY_BYTES
    decoded = json.loads(body)
    assert decoded["record"]["value"] is None and decoded["record"]["value_truncated"] is True
    assert decoded["record"]["offset"] == 7 and decoded["record"]["key"] == message["record"]["key"]


def test_sending_without_a_queue_is_an_error_not_a_drop() -> None:
    with pytest.raises(DeadLetterError):
        send_dead_letter(None, {"consumer": "c"})


def test_unknown_types_and_types_without_an_effect_are_ignored_without_the_database() -> None:
    unknown = json.loads(completed()) | {"event_type": "course.unheard_of"}
    summary = consumer().handle(event(record(json.dumps(unknown).encode()), record(completed(), offset=1)), None)

    assert summary == {"records": 2, "applied": 0, "skipped_duplicates": 0, "ignored": 2, "dead_lettered": 0}


@pytest.mark.parametrize("value", [b"{not json", b"[1, 2]", b"\xff\xfe", None,
                                   json.dumps({"event_type": "course.processing_completed"}).encode()])
def test_a_poison_record_without_a_dlq_fails_the_batch(value: bytes | None) -> None:
    with pytest.raises(DeadLetterError):
        consumer(effects={"course.processing_completed": lambda e, c: None}).handle(event(record(value)), None)


def test_the_lambda_handler_goes_through_powertools_and_matches_handle() -> None:
    raw = event(record(completed()), record(completed(), offset=1))
    c = consumer()

    assert c.lambda_handler(raw, None) == c.handle(raw, None) == {
        "records": 2, "applied": 0, "skipped_duplicates": 0, "ignored": 2, "dead_lettered": 0}
    assert c.lambda_handler is c.lambda_handler  # built once per consumer


def test_attempts_and_dlq_come_from_the_settings_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.settings import get_settings

    monkeypatch.setenv("CONSUMER_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("CONSUMER_DLQ_URL", "https://sqs.example.test/1/dlq")
    get_settings.cache_clear()
    try:
        assert consumer()._max_attempts() == 5
        assert consumer()._dlq_url() == "https://sqs.example.test/1/dlq"
        assert consumer(max_attempts=2, dlq_url="q")._max_attempts() == 2
        assert consumer(max_attempts=0)._max_attempts() == 1
        assert consumer(dlq_url="q")._dlq_url() == "q"
    finally:
        get_settings.cache_clear()


def test_typed_payload_is_the_registered_model() -> None:
    envelope = build_event({"course_id": str(uuid.uuid4()), "error": "boom"}, event_type="course.processing_failed")

    payload = typed_payload(envelope)

    assert isinstance(payload, CourseProcessingFailedV1) and payload.error == "boom"


def test_an_invalid_payload_of_a_type_without_an_effect_is_ignored_not_poison() -> None:
    other = json.loads(completed())
    other["payload"] = {"course_id": "not-a-uuid"}
    mine = dict(other, event_type="course.processing_failed", event_id=str(uuid.uuid4()))
    c = consumer(effects={"course.processing_failed": lambda e, conn: None})

    assert c.handle(event(record(json.dumps(other).encode())), None)["ignored"] == 1
    with pytest.raises(DeadLetterError):  # the same defect in a type it does handle is poison
        c.handle(event(record(json.dumps(mine).encode())), None)


def test_effects_must_be_exactly_the_declared_event_types() -> None:
    from smartcourse.catalogue import Function, Service
    from smartcourse.consumers import ConsumerDeclarationError

    def effect(e: Any, conn: Any) -> None:
        return None

    declared = consumer_function(["course.processing_completed", "course.processing_failed"])
    both = {"course.processing_completed": effect, "course.processing_failed": effect}
    assert EventConsumer(function=declared, name="ok", effects=both, engine=no_database).effects == both

    with pytest.raises(ConsumerDeclarationError, match=r"no effect for declared event types \['course.processing"):
        EventConsumer(function=declared, name="missing", effects={"course.processing_completed": effect},
                      engine=no_database)
    with pytest.raises(ConsumerDeclarationError, match=r"effects for undeclared event types \['course.archived'\]"):
        EventConsumer(function=declared, name="extra", effects={**both, "course.archived": effect},
                      engine=no_database)
    with pytest.raises(ConsumerDeclarationError, match=r"without a contract \['course.exploded'\]"):
        EventConsumer(function=consumer_function(["course.exploded"]), name="typo",
                      effects={"course.exploded": effect}, engine=no_database)
    not_kafka = Function(name="not-a-consumer", service=Service.PLATFORM, handler="x.handler", description="x")
    with pytest.raises(ConsumerDeclarationError, match="declares no Kafka trigger"):
        EventConsumer(function=not_kafka, name="none", effects={}, engine=no_database)
