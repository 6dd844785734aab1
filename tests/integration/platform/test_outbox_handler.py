"""The lms-outbox-publisher handler: drains, reports, emits the metrics the alarm watches (real DB and broker)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from localcloud.services import KafkaService, free_port
from smartcourse.db.engine import reset_engine
from smartcourse.settings import get_settings
from sqlalchemy import create_engine, text

from tests.benchmarks.outbox import consume, insert_pending
from tests.support.auth import fresh_database

pytestmark = pytest.mark.integration


class Context:
    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture()
def function_env(postgres: Any, kafka: KafkaService, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from platform_fns import outbox_publisher

    url = fresh_database(postgres, "outbox_fn")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lms")
    monkeypatch.setattr(outbox_publisher, "_publisher", None)
    get_settings.cache_clear()
    reset_engine()
    yield url
    if outbox_publisher._publisher is not None:
        outbox_publisher._publisher.close()
    monkeypatch.undo()
    get_settings.cache_clear()
    reset_engine()


def _metrics(output: str) -> dict[str, Any]:
    """The values of the embedded-metric-format lines Powertools printed."""
    values: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line:
            document = json.loads(line)
            assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SmartCourse"
            assert document["service"] == "lms"
            assert ["service"] in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[metric["Name"]]
                values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_handler_drains_due_rows_and_reports(function_env: str, kafka: KafkaService,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from platform_fns.outbox_publisher import handler

    engine = create_engine(function_env)
    topic = f"outbox-fn-{uuid.uuid4().hex[:8]}"
    kafka.create_topics([topic])
    insert_pending(engine, topic, [uuid.uuid4() for _ in range(30)], per_aggregate=2)
    result = handler({"reason": "nudge"}, Context())
    assert result["reason"] == "nudge"
    assert (result["published"], result["failed"], result["retried"]) == (60, 0, 0)
    assert len(consume(kafka.bootstrap, topic, expected=60)) == 60
    assert _metrics(capsys.readouterr().out) == {"OutboxRowsPublished": 60, "OutboxRowsFailed": 0,
                                                  "OutboxRowsRetried": 0, "OutboxBrokerUnavailable": 0}
    # A scheduled run with nothing due, then one with too little time left: both do nothing.
    insert_pending(engine, topic, [uuid.uuid4()], per_aggregate=1)
    assert handler({"source": "aws.scheduler"}, Context(remaining_ms=1_000))["published"] == 0
    assert handler({}, Context())["published"] == 1
    engine.dispose()


def test_handler_returns_normally_and_keeps_rows_pending_when_the_broker_is_unreachable(
        function_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from platform_fns.outbox_publisher import handler

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    engine = create_engine(function_env)
    insert_pending(engine, "outbox-fn-unreachable", [uuid.uuid4() for _ in range(3)], per_aggregate=1)
    result = handler(None, Context())  # returns normally: the outage is the outbox's to absorb
    assert result["broker_down"] and (result["published"], result["failed"], result["retried"]) == (0, 0, 3)
    metrics = _metrics(capsys.readouterr().out)
    assert (metrics["OutboxRowsFailed"], metrics["OutboxRowsRetried"], metrics["OutboxBrokerUnavailable"]) == (0, 3, 1)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, attempts, last_error FROM outbox")).all()
    # Even with a single allowed attempt nothing is parked: an outage is not the rows' failure.
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)] * 3
    assert all("no Kafka producer" in r.last_error for r in rows)
    engine.dispose()


def test_handler_parks_a_rejected_row_and_emits_the_failure_metric(
        function_env: str, kafka: KafkaService, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from platform_fns.outbox_publisher import handler

    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    engine = create_engine(function_env)
    topic = f"outbox-fn-rejected-{uuid.uuid4().hex[:8]}"
    kafka.create_topics([topic])
    insert_pending(engine, topic, [uuid.uuid4()], per_aggregate=1)
    with engine.begin() as conn:  # larger than the producer accepts: the broker-side refusal of this row only
        conn.execute(text("UPDATE outbox SET envelope = jsonb_set(envelope, '{payload,blob}', "
                          "to_jsonb(repeat('x', 2000000))) WHERE topic = :t"), {"t": topic})
    result = handler(None, Context())
    assert not result["broker_down"] and result["failed"] == 1
    metrics = _metrics(capsys.readouterr().out)
    assert (metrics["OutboxRowsFailed"], metrics["OutboxBrokerUnavailable"]) == (1, 0)
    with engine.connect() as conn:
        [row] = conn.execute(text("SELECT status, attempts FROM outbox WHERE topic = :t"), {"t": topic}).all()
    assert (row.status, row.attempts) == ("failed", 1)
    engine.dispose()
