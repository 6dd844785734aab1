"""Every function logs structured JSON with its service and correlation id, is traced, and flushes its metrics.

Every function of the catalogues is held to ``observed`` (its entry point carries the wrapper), and one
function per kind of trigger (an HTTP route, the authorizer, a direct invoke, a Kafka consumer, the SQS
sender, the schedule, a deploy-time custom resource) is invoked here without any I/O: the JSON lines it writes
carry the service, the function and the correlation id of its request or event.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from smartcourse import observability
from smartcourse.catalogue import Function
from smartcourse.observability import METRICS_NAMESPACE, OWN_PACKAGES, SERVICE_DIMENSION, is_observed
from smartcourse.outbox.metrics import OUTBOX_BROKER_UNAVAILABLE, OUTBOX_ROWS_FAILED
from smartcourse.outbox.publisher import DrainSummary

from stacks.services import ALL_FUNCTIONS, function
from tests.support.apigw import authorizer_event, rest_event

Lines = Callable[[], list[dict[str, Any]]]


class Context:
    """The Lambda context attributes the wrapper reads."""

    def __init__(self, fn: Function, remaining_ms: int = 60_000) -> None:
        self.function_name = fn.name
        self.aws_request_id = f"lambda-{uuid.uuid4()}"
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def entry_point(fn: Function) -> Any:
    module_name, _, attribute = fn.handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


@pytest.fixture()
def json_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Lines]:
    """The log lines (JSON objects with a level) written to stdout since the last call, at DEBUG level."""
    names = {*OWN_PACKAGES, observability.logger.name}
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    capsys.readouterr()

    def read() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"level"' in line]

    yield read
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def done(lines: list[dict[str, Any]]) -> dict[str, Any]:
    [line] = [line for line in lines if line["message"] == "invocation done"]
    return line


# --- every function ---------------------------------------------------------------------------------------


def test_the_catalogues_have_every_kind_of_trigger() -> None:
    assert any(f.routes for f in ALL_FUNCTIONS) and any(f.kafka for f in ALL_FUNCTIONS)
    assert any(f.sqs for f in ALL_FUNCTIONS) and any(f.schedule for f in ALL_FUNCTIONS)


@pytest.mark.parametrize("fn", ALL_FUNCTIONS, ids=lambda f: f.name)
def test_every_function_entry_point_is_observed(fn: Function) -> None:
    assert is_observed(entry_point(fn)), f"{fn.handler} is not wrapped with smartcourse.observability.observed"


# --- one per kind of trigger -------------------------------------------------------------------------------


def test_an_http_function_logs_json_with_the_callers_correlation_id(json_lines: Lines,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lms")
    fn = function("lms-courses-list")
    context = Context(fn)
    event = rest_event(fn, query={"limit": "0"}, headers={"x-correlation-id": "client-7f3a"})

    assert entry_point(fn)(event, context)["statusCode"] == 422

    line = done(json_lines())
    assert line["correlation_id"] == "client-7f3a" and line["service"] == "lms"
    assert line["function_name"] == "lms-courses-list" and line["function_request_id"] == context.aws_request_id
    assert line["level"] == "DEBUG" and line["outcome"] == "ok" and isinstance(line["cold_start"], bool)


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has spaces", "line\nbreak", '{"json": 1}'])
def test_without_a_usable_header_the_gateway_request_id_is_the_correlation_id(json_lines: Lines,
                                                                              sent: str | None) -> None:
    fn = function("lms-courses-list")
    event = rest_event(fn, query={"offset": "-1"}, headers={"X-Correlation-Id": sent} if sent is not None else {})

    assert entry_point(fn)(event, Context(fn))["statusCode"] == 422

    assert done(json_lines())["correlation_id"] == event["requestContext"]["requestId"]


def test_platform_http_functions_are_observed_too(json_lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "ai")
    fn = function("ai-health")
    event = rest_event(fn)

    assert entry_point(fn)(event, Context(fn))["statusCode"] == 200

    line = done(json_lines())
    assert line["service"] == "ai" and line["correlation_id"] == event["requestContext"]["requestId"]


def test_the_authorizer_logs_with_the_request_id_and_never_the_token(json_lines: Lines) -> None:
    fn = function("lms-authorizer")
    event = authorizer_event(None)

    assert entry_point(fn)(event, Context(fn))["principalId"] == "anonymous"
    malformed = authorizer_event(None) | {"headers": {"Authorization": "Basic c2VjcmV0"}}
    with pytest.raises(Exception, match="Unauthorized"):
        entry_point(fn)(malformed, Context(fn))

    lines = json_lines()
    assert [line["correlation_id"] for line in lines if line["message"] == "invocation done"] == [
        event["requestContext"]["requestId"], malformed["requestContext"]["requestId"]]
    [raised] = [line for line in lines if line["message"] == "invocation raised"]
    assert raised["error_type"] == "Exception" and raised["level"] == "WARNING"
    assert "c2VjcmV0" not in json.dumps(lines)


def test_a_direct_invoke_uses_the_lambda_request_id(json_lines: Lines) -> None:
    fn = function("lms-auth-issue-one-time-token")
    context = Context(fn)

    assert entry_point(fn)({"purpose": "email_verification", "token_ref": "nope"}, context) == {
        "error": "token_ref must be a UUID"}

    assert done(json_lines())["correlation_id"] == context.aws_request_id


def _kafka_event(*envelopes: dict[str, Any]) -> dict[str, Any]:
    records = [{"topic": "smartcourse.course-events", "partition": 0, "offset": i, "timestamp": 1_700_000_000_000,
                "timestampType": "CREATE_TIME", "key": base64.b64encode(b"k").decode(),
                "value": base64.b64encode(json.dumps(e).encode()).decode(), "headers": []}
               for i, e in enumerate(envelopes)]
    return {"eventSource": "aws:kafka", "bootstrapServers": "b-1:9098",
            "records": {"smartcourse.course-events-0": records}}


def _envelope(correlation_id: str | None) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "event_type": "course.not_consumed_here", "event_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(), "producer": "test", "aggregate_type": "course",
            "aggregate_id": str(uuid.uuid4()), "correlation_id": correlation_id, "payload": {}}


def test_a_kafka_consumer_logs_each_record_with_its_events_correlation_id(json_lines: Lines) -> None:
    fn = function("lms-consume-course-processing")
    context = Context(fn)
    first, second = _envelope("req-from-the-api"), _envelope(None)

    summary = entry_point(fn)(_kafka_event(first, second), context)  # types it has no effect for: no database

    assert summary["ignored"] == 2
    lines = json_lines()
    ignored = [line for line in lines if line["message"] == "event type without an effect ignored"]
    # The envelope's correlation id, else the event's own id; the batch's own lines carry the invocation's.
    assert [line["correlation_id"] for line in ignored] == ["req-from-the-api", second["event_id"]]
    [batch] = [line for line in lines if line["message"] == "consumer batch done"]
    assert batch["correlation_id"] == context.aws_request_id == done(lines)["correlation_id"]
    assert batch["function_name"] == fn.name


def test_the_sqs_sender_logs_each_record_with_the_correlation_id_it_carries(
        json_lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    fn = function("notification-send")
    module = importlib.import_module(fn.module)
    delivered: list[str] = []

    def deliver(body: str, receive_count: int) -> None:
        delivered.append(body)
        logging.getLogger("smartcourse_notification.sender").info("delivering")

    monkeypatch.setattr(module, "handle_record_body", deliver)

    def record(message_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        return {"messageId": message_id, "receiptHandle": "rh", "body": json.dumps({"send_id": str(uuid.uuid4())}),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": attributes,
                "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q"}

    carried = {"correlation_id": {"stringValue": "req-planned-it", "dataType": "String"}}
    event = {"Records": [record("m-1", carried), record("m-2", {})]}

    assert entry_point(fn)(event, Context(fn)) == {"batchItemFailures": []}

    assert len(delivered) == 2
    assert [line["correlation_id"] for line in json_lines() if line["message"] == "delivering"] == [
        "req-planned-it", "m-2"]


def test_the_sqs_correlation_attribute_round_trips() -> None:
    token = observability.request_context.correlation_id.set("req-42")
    try:
        attributes = observability.sqs_correlation_attributes()
    finally:
        observability.request_context.correlation_id.reset(token)
    # What SQS hands the triggered function: the attribute names as sent, values in camel case.
    received = {name: {"stringValue": a["StringValue"], "dataType": a["DataType"]} for name, a in attributes.items()}
    assert observability.sqs_record_correlation_id({"messageId": "m", "messageAttributes": received}) == "req-42"
    assert observability.sqs_correlation_attributes() == {}


def test_the_scheduled_publisher_flushes_its_metrics_once_per_invocation(
        json_lines: Lines, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fn = next(f for f in ALL_FUNCTIONS if f.schedule is not None)
    module = importlib.import_module(fn.module)

    class Publisher:
        def drain(self, keep_going: Callable[[], bool]) -> DrainSummary:
            return DrainSummary(published=3, failed=1, retried=2)

    monkeypatch.setattr(module, "get_publisher", lambda: Publisher())
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lms")
    handler = entry_point(fn)

    for _ in range(2):
        assert handler({"source": "aws.scheduler"}, Context(fn))["published"] == 3
        [document] = emf(capsys.readouterr().out)
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == METRICS_NAMESPACE and [SERVICE_DIMENSION] in directive["Dimensions"]
        assert document[SERVICE_DIMENSION] == "lms"
        assert (document[OUTBOX_ROWS_FAILED], document[OUTBOX_BROKER_UNAVAILABLE]) == ([1.0], [0.0])


def test_a_function_that_adds_no_metric_prints_none(capsys: pytest.CaptureFixture[str]) -> None:
    fn = function("lms-health")
    entry_point(fn)(rest_event(fn), Context(fn))
    captured = capsys.readouterr()
    assert emf(captured.out) == [] and "No application metrics" not in captured.err


def test_a_custom_resource_function_logs_with_the_lambda_request_id(json_lines: Lines) -> None:
    fn = function("platform-kafka-topics")
    context = Context(fn)

    assert entry_point(fn)({"RequestType": "Delete", "PhysicalResourceId": "topics"}, context) == {
        "PhysicalResourceId": "topics"}

    assert done(json_lines())["correlation_id"] == context.aws_request_id


def test_the_wrapper_restores_the_correlation_id_and_is_applied_once() -> None:
    calls: list[str | None] = []

    def handler(event: Any, context: Any) -> None:
        calls.append(observability.request_context.correlation_id.get())

    wrapped = observability.observed(handler)
    assert observability.observed(wrapped) is wrapped
    wrapped({"requestContext": {"requestId": "r-1"}}, None)
    assert calls == ["r-1"] and observability.request_context.correlation_id.get() is None


def test_loggers_that_print_response_bodies_never_run_below_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore logs whole Secrets Manager answers at DEBUG: the wrapper lifts such loggers to INFO."""
    import logging

    from smartcourse import observability

    monkeypatch.setattr(observability, "_configured", False)
    for name in observability.SECRET_BEARING_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    observability.observed(lambda event, context: None)({}, None)
    assert all(logging.getLogger(n).getEffectiveLevel() >= logging.INFO
               for n in observability.SECRET_BEARING_LOGGERS)
