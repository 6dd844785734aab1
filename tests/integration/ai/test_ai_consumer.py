"""The deployed AI consumer (``ai-consume-events``) with MSK-shaped batches, a real AI database and the AWS
emulator's SQS: a run's jobs reach the index queue, a redelivered event plans nothing twice, a poisoned record
lands in the consumer's dead-letter queue with the original record, and the rest of the batch still applies."""

from __future__ import annotations

import base64
import importlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from smartcourse.consumers import dlq as dlq_module
from smartcourse.db.engine import normalise_url
from smartcourse_events.registry import build_event
from sqlalchemy import Engine, create_engine, text

from stacks.services import function
from tests.support.ai import published_course
from tests.support.events import msk_event

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ai_url(postgres: Any) -> str:
    from smartcourse.db.migrate import upgrade

    url = postgres.database_url(f"aicons_{uuid.uuid4().hex[:10]}")
    upgrade(url, service="ai")
    return url


@pytest.fixture(scope="module")
def db(ai_url: str) -> Iterator[Engine]:
    eng = create_engine(normalise_url(ai_url))
    yield eng
    eng.dispose()


@pytest.fixture
def sqs(moto: Any) -> Any:
    import boto3

    return boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")


@pytest.fixture
def queues(sqs: Any) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {name: str(sqs.create_queue(QueueName=f"ai-{name}-{suffix}")["QueueUrl"]) for name in ("index", "dlq")}


@pytest.fixture
def handler(ai_url: str, queues: dict[str, str], moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_ai import aws

    monkeypatch.setenv("DATABASE_URL", ai_url)
    monkeypatch.setenv("DB_NAME", "smartcourse_ai")
    monkeypatch.setenv("SERVICE_NAME", "ai")
    monkeypatch.setenv("CONSUMER_DLQ_URL", queues["dlq"])
    monkeypatch.setenv("AI_INDEX_QUEUE_URL", queues["index"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        dlq_module.reset_client()
        aws.reset_clients()

    reset()
    yield importlib.import_module(function("ai-consume-events").module).handler
    reset()


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def course_spec() -> dict[str, Any]:
    return {"title": "Pottery", "modules": [{"title": "Clay", "assets": [
        {"title": "Wedging", "asset_type": "video", "description": "Knead the clay.", "source_url": "https://v/1"},
        {"title": "Centering", "asset_type": "video", "description": "Center it.", "source_url": "https://v/2"}]}]}


def test_published_plans_one_job_per_asset_and_a_redelivery_plans_nothing_again(
        handler: Any, db: Engine, sqs: Any, queues: dict[str, str]) -> None:
    course = published_course(course_spec())
    envelope = build_event(course.payload, event_type="course.published", producer="lms")
    assert handler(msk_event(envelope), None)["applied"] == 1
    jobs = drain(sqs, queues["index"])
    assert sorted(j["asset_id"] for j in jobs) == sorted(str(a) for a in course.titles)
    assert {j["run_id"] for j in jobs} == {str(envelope.event_id)} and not any(j["force"] for j in jobs)
    again = handler(msk_event(envelope), None)
    assert again["skipped_duplicates"] == 1 and drain(sqs, queues["index"]) == []
    with db.connect() as conn:
        run = conn.execute(text("SELECT status, assets_total, run_id FROM course_index WHERE course_id = :c"),
                           {"c": course.course_id}).one()
    assert (run.status, run.assets_total, run.run_id) == ("processing", 2, envelope.event_id)


def test_a_poisoned_record_goes_to_the_dead_letter_queue_and_the_batch_goes_on(
        handler: Any, db: Engine, sqs: Any, queues: dict[str, str]) -> None:
    good = published_course(course_spec())
    envelope = build_event(good.payload, event_type="course.published", producer="lms")
    event = msk_event(envelope)
    [records] = event["records"].values()
    poisoned = dict(records[0], offset=records[0]["offset"] + 1, value=base64.b64encode(json.dumps(
        {"event_id": str(uuid.uuid4()), "event_type": "course.published", "event_version": 1,
         "payload": {"course_id": "not-a-uuid"}}).encode()).decode())
    records.insert(0, poisoned)
    summary = handler(event, None)
    assert summary["dead_lettered"] == 1 and summary["applied"] == 1
    [dead] = drain(sqs, queues["dlq"])
    assert dead["consumer"] == "ai-events" and dead["record"]["value"] == poisoned["value"]
    assert len(drain(sqs, queues["index"])) == 2
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM course_index WHERE course_id = :c"),
                            {"c": good.course_id}).scalar_one() == 1


def test_archive_and_enrollment_effects(handler: Any, db: Engine, sqs: Any, queues: dict[str, str]) -> None:
    course = published_course(course_spec())
    learner = uuid.uuid4()
    events = [build_event(course.payload, event_type="course.published", producer="lms"),
              build_event({"enrollment_id": str(uuid.uuid4()), "user_id": str(learner),
                           "course_id": str(course.course_id), "source": "self",
                           "enrolled_at": "2026-12-02T10:00:00+00:00"}, event_type="enrollment.created",
                          producer="lms"),
              build_event({"course_id": str(course.course_id)}, event_type="course.archived", producer="lms")]
    assert handler(msk_event(*events), None)["applied"] == 3
    with db.connect() as conn:
        assert conn.execute(text("SELECT status FROM courses WHERE course_id = :c"),
                            {"c": course.course_id}).scalar_one() == "archived"
        assert conn.execute(text("SELECT count(*) FROM enrollments WHERE user_id = :u"),
                            {"u": learner}).scalar_one() == 1
    drain(sqs, queues["index"])


def test_a_job_that_arrives_before_its_run_is_committed_comes_back_within_seconds(
        handler: Any, sqs: Any, queues: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's environment as the stack sets it (its own queue in TRIGGER_QUEUE_URL, no index-queue URL: it
    sends no jobs): the early job is made visible again in 3 s, not after the queue's visibility timeout."""
    from smartcourse.settings import get_settings

    course = published_course(course_spec())
    handler(msk_event(build_event(course.payload, event_type="course.published", producer="lms")), None)
    early = dict(drain(sqs, queues["index"])[0], run_id=str(uuid.uuid4()))  # a run the database does not have yet
    sqs.send_message(QueueUrl=queues["index"], MessageBody=json.dumps(early))
    [message] = sqs.receive_message(QueueUrl=queues["index"], VisibilityTimeout=600)["Messages"]
    monkeypatch.delenv("AI_INDEX_QUEUE_URL")
    monkeypatch.setenv("TRIGGER_QUEUE_URL", queues["index"])
    get_settings.cache_clear()
    worker = importlib.import_module(function("ai-index-asset").module).handler
    event = sqs_event(message["Body"])
    event["Records"][0]["receiptHandle"] = message["ReceiptHandle"]
    assert worker(event, None)["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    again = sqs.receive_message(QueueUrl=queues["index"], WaitTimeSeconds=15).get("Messages", [])  # 600 s without
    assert [m["MessageId"] for m in again] == [message["MessageId"]]
    drain(sqs, queues["index"])


def sqs_event(*bodies: str, receives: int = 1) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body,
                         "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {},
                         "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ai-index",
                         "awsRegion": "us-east-1"} for i, body in enumerate(bodies)]}


def test_the_index_worker_reports_partial_batch_failures(handler: Any, db: Engine, sqs: Any,
                                                         queues: dict[str, str]) -> None:
    """Through the deployed worker: a job of a run that is not there yet and a malformed body fail (SQS retries
    them, then dead-letters), a job of a replaced run is dropped, and a good job indexes."""
    course = published_course(course_spec())
    handler(msk_event(build_event(course.payload, event_type="course.published", producer="lms")), None)
    first = drain(sqs, queues["index"])
    handler(msk_event(build_event(course.payload, event_type="course.published", producer="lms")), None)
    current = drain(sqs, queues["index"])
    not_yet = dict(current[0], run_id=str(uuid.uuid4()), planned_at="2999-01-01T00:00:00+00:00")
    worker = importlib.import_module(function("ai-index-asset").module).handler
    answer = worker(sqs_event(json.dumps(current[0]), json.dumps(first[0]), json.dumps(not_yet), "{broken"), None)
    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == ["m2", "m3"]
    with db.connect() as conn:
        done = conn.execute(text("SELECT assets_done FROM course_index WHERE course_id = :c"),
                            {"c": course.course_id}).scalar_one()
    assert done == 1
