"""The outbox publisher against real PostgreSQL and the real broker: order, concurrency, backoff, outages."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localcloud.services import KafkaService, free_port
from smartcourse.db.engine import make_engine
from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.kafka_client import ProducerTuning, make_producer
from smartcourse.outbox.publisher import CLAIM_SQL, OutboxPublisher, PublisherConfig, requeue_failed
from smartcourse.outbox.rules import Backoff
from sqlalchemy import Engine, text

from tests.benchmarks.outbox import consume, insert_pending
from tests.support.auth import fresh_database

pytestmark = pytest.mark.integration

# Short timeouts: an unreachable broker is detected in about a second instead of Lambda-sized waits.
FAST_FAIL = ProducerTuning(bootstrap_timeout_ms=1_000, max_block_ms=1_000, request_timeout_ms=1_500,
                           delivery_timeout_ms=2_500, reconnect_backoff_max_ms=200)


@pytest.fixture()
def engine(postgres: Any) -> Iterator[Engine]:
    # A database per test: every test sees only its own outbox rows.
    engine = make_engine(fresh_database(postgres, "outbox"))
    yield engine
    engine.dispose()


def _topic(kafka: KafkaService, partitions: int = 3) -> str:
    topic = f"outbox-it-{uuid.uuid4().hex[:10]}"
    kafka.create_topics([topic], partitions=partitions)
    return topic


def _publisher(engine: Engine, bootstrap: str, **config: Any) -> OutboxPublisher:
    return OutboxPublisher(engine, lambda: make_producer(bootstrap_servers=bootstrap, tuning=FAST_FAIL),
                           PublisherConfig(**config))


def _rows(engine: Engine, where: str = "TRUE", **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM outbox WHERE {where} ORDER BY id"), params))  # noqa: S608


def _by_key(records: list[Any]) -> dict[str, list[int]]:
    """The ``seq`` of each aggregate's events in the order the topic holds them (one partition per key)."""
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        seqs[record.key.decode()].append(json.loads(record.value)["payload"]["seq"])
    return seqs


def _backdate(engine: Engine) -> None:
    """Make every backing-off row due now (instead of sleeping out the backoff)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'"))


def test_publishes_every_row_in_per_aggregate_order(engine: Engine, kafka: KafkaService) -> None:
    topic = _topic(kafka)
    aggregates = [uuid.uuid4() for _ in range(5)]
    rows = insert_pending(engine, topic, aggregates, per_aggregate=20)
    # A batch size that splits aggregates' runs across batches.
    summary = _publisher(engine, kafka.bootstrap, batch_size=7).drain()
    assert summary.published == 100 and summary.failed == summary.retried == 0
    stored = _rows(engine)
    assert all(r.status == "published" and r.published_at is not None and r.attempts == 0 for r in stored)
    records = consume(kafka.bootstrap, topic, expected=100)
    assert len(records) == 100
    assert sorted(r.value and json.loads(r.value)["event_id"] for r in records) == sorted(
        str(r["event_id"]) for r in rows)
    assert _by_key(records) == {str(a): list(range(20)) for a in aggregates}
    headers = dict(records[0].headers)
    assert headers["event_type"] == b"enrollment.progressed"
    assert headers["event_id"].decode() == json.loads(records[0].value)["event_id"]


def test_a_backing_off_row_holds_back_its_aggregate_only(engine: Engine, kafka: KafkaService) -> None:
    topic = _topic(kafka)
    x, y = uuid.uuid4(), uuid.uuid4()
    insert_pending(engine, topic, [x, y], per_aggregate=3)  # ids: x0 y0 x1 y1 x2 y2
    with engine.begin() as conn:  # x's first event failed once and waits for an hour
        conn.execute(text("UPDATE outbox SET attempts = 1, next_attempt_at = now() + interval '1 hour' "
                          "WHERE id = (SELECT min(id) FROM outbox WHERE aggregate_id = :x)"), {"x": x})
    summary = _publisher(engine, kafka.bootstrap).drain()
    assert summary.published == 3
    statuses = {(r.aggregate_id, r.status) for r in _rows(engine)}
    assert statuses == {(y, "published"), (x, "pending")}
    assert all(r.attempts == 0 for r in _rows(engine, "aggregate_id = :x AND id > (SELECT min(id) FROM outbox "
                                                       "WHERE aggregate_id = :x)", x=x))
    # Once that row is due again, the aggregate goes on in order.
    _backdate(engine)
    assert _publisher(engine, kafka.bootstrap).drain().published == 3
    assert _by_key(consume(kafka.bootstrap, topic, expected=6)) == {str(x): [0, 1, 2], str(y): [0, 1, 2]}


def test_rows_held_back_do_not_fill_the_batch(engine: Engine, kafka: KafkaService) -> None:
    topic = _topic(kafka)
    x, y = uuid.uuid4(), uuid.uuid4()
    insert_pending(engine, topic, [x], per_aggregate=20)
    insert_pending(engine, topic, [y], per_aggregate=3)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET attempts = 1, next_attempt_at = now() + interval '1 hour' "
                          "WHERE id = (SELECT min(id) FROM outbox WHERE aggregate_id = :x)"), {"x": x})
    # x's 19 waiting rows come first by id; with a batch of 5 they must not crowd out y's rows.
    summary = _publisher(engine, kafka.bootstrap, batch_size=5).drain()
    assert summary.published == 3
    assert {r.aggregate_id for r in _rows(engine, "status = 'published'")} == {y}


def test_a_row_claimed_by_another_publisher_holds_back_its_aggregate(engine: Engine, kafka: KafkaService) -> None:
    topic = _topic(kafka)
    x, y = uuid.uuid4(), uuid.uuid4()
    insert_pending(engine, topic, [x], per_aggregate=1)
    insert_pending(engine, topic, [y], per_aggregate=2)
    insert_pending(engine, topic, [x], per_aggregate=1, first_seq=1)  # x's second event, after y's
    first_x = _rows(engine, "aggregate_id = :x", x=x)[0].id
    # Publisher 1 has claimed x's first row and is producing it (its transaction is open).
    other_engine = make_engine(engine.url)
    with other_engine.connect() as other, other.begin():
        claimed = list(other.execute(CLAIM_SQL, {"limit": 1}))
        assert [r.id for r in claimed] == [first_x]
        summary = _publisher(engine, kafka.bootstrap).drain()
        assert summary.published == 2  # y's rows; x's second row must wait for the first
        assert {r.aggregate_id for r in _rows(engine, "status = 'published'")} == {y}
        other.rollback()
    other_engine.dispose()
    assert _publisher(engine, kafka.bootstrap).drain().published == 2
    assert _by_key(consume(kafka.bootstrap, topic, expected=4)) == {str(x): [0, 1], str(y): [0, 1]}


@pytest.mark.slow
def test_concurrent_publishers_publish_every_row_exactly_once(postgres: Any, kafka: KafkaService) -> None:
    url = fresh_database(postgres, "outbox")
    setup = make_engine(url)
    topic = _topic(kafka)
    aggregates = [uuid.uuid4() for _ in range(200)]
    rows = insert_pending(setup, topic, aggregates, per_aggregate=10)
    publishers = [_publisher(make_engine(url), kafka.bootstrap, batch_size=50) for _ in range(3)]
    counts = [0, 0, 0]
    start = threading.Barrier(3)

    def run(i: int) -> None:
        start.wait()
        for _ in range(200):  # each drain may stop early while others hold rows: go again until none is left
            counts[i] += publishers[i].drain().published
            if not _rows(setup, "status = 'pending'"):
                return

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for p in publishers:
        p.close()
        p.engine.dispose()
    assert sum(counts) == 2000
    assert sum(1 for c in counts if c > 0) >= 2, counts  # the work really was shared
    records = consume(kafka.bootstrap, topic, expected=2000, timeout=60)
    event_ids = [json.loads(r.value)["event_id"] for r in records]
    assert len(event_ids) == 2000 and set(event_ids) == {str(r["event_id"]) for r in rows}
    assert _by_key(records) == {str(a): list(range(10)) for a in aggregates}
    setup.dispose()


def test_an_unreachable_broker_uses_up_no_attempts_and_parks_nothing(engine: Engine, kafka: KafkaService) -> None:
    topic = _topic(kafka)
    x, y = uuid.uuid4(), uuid.uuid4()
    insert_pending(engine, topic, [x, y], per_aggregate=2)  # x0 y0 x1 y1
    dead = f"127.0.0.1:{free_port()}"
    backoff = Backoff(base_seconds=10, jitter=0)
    publisher = _publisher(engine, dead, max_attempts=3, backoff=backoff)

    before = time.time()
    summary = publisher.drain()
    assert summary.broker_down and summary.batches == 1 and summary.published == 0
    assert (summary.retried, summary.failed, summary.deferred) == (2, 0, 2)
    x0, y0, x1, y1 = _rows(engine)
    for row in (x0, y0):
        assert row.status == "pending" and row.attempts == 0 and row.last_error
        wait = row.next_attempt_at.timestamp() - before
        assert 19 <= wait <= 25, wait  # 10 s * 2**1, no jitter (under the 30 s cap)
    for row in (x1, y1):  # held behind their aggregate's first row, untouched
        assert row.status == "pending" and row.attempts == 0 and row.last_error is None
    # Nothing is due now: a second run has nothing to do.
    assert publisher.drain().batches == 0

    # A long outage: many more runs than max_attempts, and still nothing is parked.
    for _ in range(6):
        _backdate(engine)
        assert publisher.drain().broker_down
    assert [(r.status, r.attempts) for r in _rows(engine)] == [("pending", 0)] * 4

    # The broker is back: every row goes out, in order per aggregate.
    _backdate(engine)
    assert _publisher(engine, kafka.bootstrap, max_attempts=3).drain().published == 4
    assert [r.status for r in _rows(engine)] == ["published"] * 4
    assert _by_key(consume(kafka.bootstrap, topic, expected=4)) == {str(x): [0, 1], str(y): [0, 1]}


def test_a_row_the_broker_rejects_is_retried_alone(engine: Engine, kafka: KafkaService) -> None:
    topic = _topic(kafka)
    x, y = uuid.uuid4(), uuid.uuid4()
    insert_pending(engine, topic, [x, y], per_aggregate=2)
    with engine.begin() as conn:  # x's first event is larger than the producer accepts
        conn.execute(text("UPDATE outbox SET envelope = jsonb_set(envelope, '{payload,blob}', to_jsonb(repeat('x', "
                          "2000000))) WHERE id = (SELECT min(id) FROM outbox WHERE aggregate_id = :x)"), {"x": x})
    summary = _publisher(engine, kafka.bootstrap, max_attempts=2, backoff=Backoff(base_seconds=0.0)).drain()
    # Attempt 1 (retried), attempt 2 (parked) in the same drain (no backoff), then x's second row goes.
    assert (summary.published, summary.retried, summary.failed) == (3, 1, 1)
    x0, _, x1, _ = _rows(engine)
    assert x0.status == "failed" and "MessageSizeTooLarge" in x0.last_error
    assert x1.status == "published"  # a parked row no longer holds back its aggregate
    # An operator requeues the parked row once the cause is fixed (here: the record made smaller).
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET envelope = envelope #- '{payload,blob}' WHERE id = :id"), {"id": x0.id})
    assert requeue_failed(engine) == 1
    assert _publisher(engine, kafka.bootstrap).drain().published == 1


@pytest.mark.slow
def test_broker_down_then_up_delivers_every_row_once(engine: Engine, tmp_path: Path) -> None:
    port = free_port()
    broker = KafkaService(port=port, log_path=tmp_path / "kafka-1.log")
    broker.start()
    topic = "smartcourse.user-events"
    try:
        broker.create_topics([topic])
        publisher = _publisher(engine, broker.bootstrap, backoff=Backoff(base_seconds=0.2, jitter=0))
        _commit_events(engine, 5)
        assert publisher.drain().published == 5  # the producer is connected and warm
    finally:
        broker.stop()

    # Requests keep committing while the broker is down.
    started = time.monotonic()
    committed = _commit_events(engine, 20)
    assert time.monotonic() - started < 5
    summary = publisher.drain()
    assert summary.broker_down and summary.published == 0
    pending = _rows(engine, "status = 'pending'")
    # Tried and waiting (last_error, a later next_attempt_at), but an outage uses up no attempts.
    assert len(pending) == 20 and all(r.attempts == 0 for r in pending)
    assert any(r.last_error for r in pending)

    broker = KafkaService(port=port, log_path=tmp_path / "kafka-2.log")
    broker.start()
    try:
        broker.create_topics([topic])  # the broker keeps topics in memory
        deadline = time.monotonic() + 30
        published = 0
        while published < 20 and time.monotonic() < deadline:
            time.sleep(0.3)  # the backoff
            published += publisher.drain().published
        assert published == 20
        records = consume(broker.bootstrap, topic, expected=20)
        assert sorted(json.loads(r.value)["event_id"] for r in records) == sorted(committed)
        publisher.close()
    finally:
        broker.stop()


def _commit_events(engine: Engine, n: int) -> list[str]:
    event_ids = []
    for _ in range(n):
        user = uuid.uuid4()
        with UnitOfWork(engine) as uow:
            envelope = uow.emit({"user_id": str(user)}, event_type="user.email_verified", aggregate_id=user)
            uow.commit()
        event_ids.append(str(envelope.event_id))
    return event_ids
