"""lms-consume-course-processing: the catalogue's handler, fed records produced to and polled from the real broker.

The AI service (the real producer) arrives later; these events are built with the same contract code.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from smartcourse.consumers import dlq as dlq_module
from smartcourse.db.engine import normalise_url
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.repository import insert_user
from smartcourse_lms.courses import repository as course_repo
from sqlalchemy import Engine, create_engine, text

from stacks.services import function
from tests.integration.platform.test_consumers_framework import dead_letters, encoded, kafka_event
from tests.support.auth import count, fresh_database

pytestmark = pytest.mark.integration

FUNCTION = "lms-consume-course-processing"
CONSUMER = "lms-course-processing"


@pytest.fixture(scope="module")
def lms_url(postgres: Any) -> str:
    return fresh_database(postgres, prefix="lms_consumer")


@pytest.fixture(scope="module")
def engine(lms_url: str) -> Iterator[Engine]:
    eng = create_engine(normalise_url(lms_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def instructor(engine: Engine) -> uuid.UUID:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        assert insert_user(conn, user_id=user_id, email=f"i-{user_id.hex[:12]}@it.smartcourse.local",
                           password_hash="x", full_name="Consumer Tester", roles=[Role.INSTRUCTOR],
                           now=datetime.now(UTC))
    return user_id


@pytest.fixture
def dlq_url(moto: Any) -> str:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    return str(sqs.create_queue(QueueName=f"lms-consumer-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"])


@pytest.fixture
def handler(lms_url: str, dlq_url: str, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The deployed entry point, configured from the environment as in a Lambda sandbox."""
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", lms_url)
    monkeypatch.setenv("CONSUMER_DLQ_URL", dlq_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        dlq_module.reset_client()

    reset()
    yield importlib.import_module(function(FUNCTION).module).handler
    reset()


def course(engine: Engine, instructor: uuid.UUID, processing_status: str = "processing") -> uuid.UUID:
    course_id = uuid.uuid4()
    with engine.begin() as conn:
        course_repo.insert_course(conn, {"id": course_id, "title": "Indexed course", "status": "published",
                                         "processing_status": processing_status, "instructor_id": instructor,
                                         "published_at": datetime.now(UTC)})
    return course_id


def status_of(engine: Engine, course_id: uuid.UUID) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT processing_status FROM courses WHERE id = :id"),
                                {"id": course_id}).scalar_one())


def completed(course_id: uuid.UUID) -> EventEnvelope:
    return build_event({"course_id": str(course_id), "chunks": 12, "embeddings": 12, "summary_ready": True},
                       event_type="course.processing_completed", producer="ai")


def failed(course_id: uuid.UUID) -> EventEnvelope:
    return build_event({"course_id": str(course_id), "error": "could not read the article"},
                       event_type="course.processing_failed", producer="ai")


def processed(engine: Engine, *envelopes: EventEnvelope) -> int:
    return count(engine, "SELECT count(*) FROM processed_events WHERE consumer = :c AND event_id = ANY(:ids)",
                 c=CONSUMER, ids=[e.event_id for e in envelopes])


def test_completed_and_failed_set_the_processing_status(kafka: Any, engine: Engine, instructor: uuid.UUID,
                                                        handler: Any) -> None:
    ok_course, failed_course = course(engine, instructor), course(engine, instructor)
    events = [completed(ok_course), failed(failed_course)]

    summary = handler(kafka_event(kafka, [encoded(e) for e in events], partitions=3), None)

    assert summary["applied"] == 2
    assert status_of(engine, ok_course) == "ready"
    assert status_of(engine, failed_course) == "failed"
    assert processed(engine, *events) == 2


def test_results_of_one_course_apply_in_partition_order(kafka: Any, engine: Engine, instructor: uuid.UUID,
                                                        handler: Any) -> None:
    # Failed, then re-triggered and completed: keyed by course, so both sit in one partition, in this order.
    course_id = course(engine, instructor)
    events = [failed(course_id), completed(course_id)]

    handler(kafka_event(kafka, [encoded(e) for e in events], partitions=3), None)

    assert status_of(engine, course_id) == "ready"


def test_a_redelivered_result_is_applied_once(kafka: Any, engine: Engine, instructor: uuid.UUID,
                                              handler: Any) -> None:
    course_id = course(engine, instructor)
    event = completed(course_id)
    batch = kafka_event(kafka, [encoded(event)])
    assert handler(batch, None)["applied"] == 1
    assert status_of(engine, course_id) == "ready"
    # Staff re-trigger indexing; a late redelivery of the old result must not flip the course back to ready.
    with engine.begin() as conn:
        conn.execute(text("UPDATE courses SET processing_status = 'processing' WHERE id = :id"), {"id": course_id})

    summary = handler(batch, None)

    assert summary["skipped_duplicates"] == 1 and summary["applied"] == 0
    assert status_of(engine, course_id) == "processing"
    assert processed(engine, event) == 1


def test_a_result_for_a_missing_course_is_ignored_with_a_warning(kafka: Any, engine: Engine, handler: Any,
                                                                 dlq_url: str, caplog: pytest.LogCaptureFixture,
                                                                 moto: Any) -> None:
    import boto3

    gone = completed(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="smartcourse_lms.courses.service"):
        summary = handler(kafka_event(kafka, [encoded(gone)]), None)

    assert summary["applied"] == 1 and summary["dead_lettered"] == 0
    assert any("unknown course" in r.getMessage() and r.__dict__.get("event_id") == str(gone.event_id)
               for r in caplog.records)
    assert count(engine, "SELECT count(*) FROM courses WHERE id = :id", id=gone.aggregate_id) == 0
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    assert dead_letters(sqs, dlq_url, 0) == []


def test_other_course_events_and_unknown_types_are_ignored(kafka: Any, engine: Engine, instructor: uuid.UUID,
                                                           handler: Any) -> None:
    course_id = course(engine, instructor)
    archived = build_event({"course_id": str(course_id)}, event_type="course.archived")
    future = completed(course_id).to_json_dict() | {"event_type": "course.processing_paused"}

    summary = handler(kafka_event(kafka, [encoded(archived), (None, json.dumps(future).encode())]), None)

    assert summary == {"records": 2, "applied": 0, "skipped_duplicates": 0, "ignored": 2, "dead_lettered": 0}
    assert status_of(engine, course_id) == "processing"
    assert count(engine, "SELECT count(*) FROM processed_events WHERE event_id IN (:a, :b)",
                 a=archived.event_id, b=uuid.UUID(future["event_id"])) == 0


def test_a_poison_record_is_dead_lettered_and_the_batch_goes_on(kafka: Any, engine: Engine, instructor: uuid.UUID,
                                                                handler: Any, dlq_url: str, moto: Any) -> None:
    import boto3

    course_id = course(engine, instructor)
    too_long = failed(course_id).to_json_dict()
    too_long["payload"]["error"] = "x" * 5000  # over the contract's 4000 characters
    batch = kafka_event(kafka, [(course_id.bytes, json.dumps(too_long).encode()), encoded(completed(course_id))])

    summary = handler(batch, None)

    assert summary["dead_lettered"] == 1 and summary["applied"] == 1
    assert status_of(engine, course_id) == "ready"
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    [message] = dead_letters(sqs, dlq_url, 1)
    assert message["consumer"] == CONSUMER
    assert message["error"]["type"] == "ValidationError"
    assert base64.b64decode(message["record"]["key"]) == course_id.bytes
    assert json.loads(base64.b64decode(message["record"]["value"]))["event_id"] == too_long["event_id"]
