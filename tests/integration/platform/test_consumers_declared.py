"""Who consumes what, by behaviour: every declared consumer applies each type it declares and nothing else.

For every function of the app with a Kafka trigger, its deployed entry point (the catalogue's ``handler``) is
fed, against its service's freshly migrated database and the AWS emulator, one valid event of each declared
type (one story: a user registers, a course is published and indexed, the user enrolls and is certified), as
the MSK event source mapping delivers them; each must be applied: recorded in the consumer's
``processed_events`` under its name, nothing dead-lettered. Then one event of every other registered type:
each must be ignored and leave no trace. So the declaration (from which the topics, the stacks' mappings and
the event docs' consumers column derive) is held to what the handler does.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from smartcourse.catalogue import Function
from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import normalise_url
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import REGISTRY
from sqlalchemy import Engine, create_engine, select

from stacks.services import ALL_FUNCTIONS
from tests.support.events import Ids, msk_event, sample_events

pytestmark = pytest.mark.integration

# The event archive takes every record of every topic and declares no types (its own tests hold it to that).
CONSUMERS = [f for f in ALL_FUNCTIONS if f.kafka is not None and not f.kafka.every_topic]
EVENT_TYPES = sorted({event_type for event_type, _version in REGISTRY})


def reset_caches() -> None:
    """What a fresh Lambda sandbox has: settings, engine and AWS clients built from the environment."""
    from smartcourse.consumers import dlq
    from smartcourse.db import engine
    from smartcourse.settings import get_settings
    from smartcourse_ai import aws as ai_aws
    from smartcourse_notification import aws as notification_aws

    get_settings.cache_clear()
    engine.reset_engine()
    dlq.reset_client()
    notification_aws.reset_clients()
    ai_aws.reset_clients()


@pytest.fixture(params=CONSUMERS, ids=lambda f: f.name)
def deployed(request: pytest.FixtureRequest, postgres: Any, moto: Any,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Function, EventConsumer, Any, Engine]]:
    """A consumer function in a sandbox of its own: its service's database, the queues it sends to and a DLQ."""
    import boto3
    from smartcourse.db.migrate import upgrade

    fn: Function = request.param
    url = postgres.database_url(f"declared_{fn.service}_{uuid.uuid4().hex[:8]}")
    upgrade(url, service=str(fn.service))
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    for key, value in {
        "DATABASE_URL": url, "AWS_ENDPOINT_URL": moto.endpoint, "CONSUMER_MAX_ATTEMPTS": "1",
        "CONSUMER_DLQ_URL": sqs.create_queue(QueueName=f"declared-dlq-{suffix}")["QueueUrl"],
        "NOTIFICATION_QUEUE_URL": sqs.create_queue(QueueName=f"declared-sends-{suffix}")["QueueUrl"],
        "AI_INDEX_QUEUE_URL": sqs.create_queue(QueueName=f"declared-index-{suffix}")["QueueUrl"],
    }.items():
        monkeypatch.setenv(key, value)
    reset_caches()
    module = importlib.import_module(fn.module)
    [consumer] = [v for v in vars(module).values() if isinstance(v, EventConsumer)]
    engine = create_engine(normalise_url(url))
    yield fn, consumer, getattr(module, fn.handler.rsplit(".", 1)[1]), engine
    engine.dispose()
    reset_caches()


def recorded(engine: Engine, consumer: EventConsumer, envelopes: list[EventEnvelope]) -> dict[str, str]:
    """event id → event type of the ``envelopes`` the consumer recorded as applied."""
    table = consumer.processed_table
    query = select(table.c.event_id, table.c.event_type).where(
        table.c.consumer == consumer.name, table.c.event_id.in_([e.event_id for e in envelopes]))
    with engine.connect() as conn:
        return {str(row.event_id): row.event_type for row in conn.execute(query)}


def test_every_declared_type_is_applied_and_every_other_type_ignored(
        deployed: tuple[Function, EventConsumer, Any, Engine]) -> None:
    fn, consumer, handler, engine = deployed
    assert fn.kafka is not None
    declared = set(fn.kafka.event_types)
    ids = Ids()

    handled = sample_events(declared, ids)
    summary = handler(msk_event(*handled), None)

    applied = recorded(engine, consumer, handled)
    assert {e.event_type for e in handled if str(e.event_id) not in applied} == set(), summary
    assert applied == {str(e.event_id): e.event_type for e in handled}
    assert summary == {"records": len(declared), "applied": len(declared), "skipped_duplicates": 0,
                       "ignored": 0, "dead_lettered": 0}

    others = sample_events(set(EVENT_TYPES) - declared, ids)
    summary = handler(msk_event(*others), None)

    assert summary == {"records": len(others), "applied": 0, "skipped_duplicates": 0, "ignored": len(others),
                       "dead_lettered": 0}
    assert recorded(engine, consumer, others) == {}

