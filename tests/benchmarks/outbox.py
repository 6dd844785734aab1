"""Outbox drain throughput: 100,000 pending rows → the broker, events/s (median of a few runs).

Also the helpers the outbox tests share: bulk-inserting realistic pending rows, reading a topic back, and
running the publisher loop in a thread (for a commit → consumer latency measurement).

Run alone: ``python -m tests.benchmarks.outbox`` (starts its own PostgreSQL and broker on free ports).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROWS = 100_000
RUNS = 3
GOAL_EVENTS_PER_S = 2_000
BATCH_SIZE = 500
EVENTS_PER_AGGREGATE = 5  # an enrollment's life: enrolled, progress …, completed
TOPIC = "smartcourse.enrollment-events"


def envelope(event_id: uuid.UUID, aggregate_id: uuid.UUID, seq: int, event_type: str = "enrollment.progressed",
             ) -> dict[str, Any]:
    """An envelope shaped like the LMS's (about 575 bytes of JSON)."""
    return {
        "event_id": str(event_id), "event_type": event_type, "event_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(), "producer": "lms",
        "aggregate_type": "enrollment", "aggregate_id": str(aggregate_id),
        "correlation_id": f"bench-{uuid.uuid4().hex[:16]}",
        "payload": {"enrollment_id": str(aggregate_id), "user_id": str(uuid.uuid4()),
                    "course_id": str(uuid.uuid4()), "asset_id": str(uuid.uuid4()), "seq": seq,
                    "progress_percent": round(100 * seq / EVENTS_PER_AGGREGATE, 2)},
    }


def insert_pending(engine: Engine, topic: str, aggregates: list[uuid.UUID], per_aggregate: int,
                   chunk: int = 5_000, first_seq: int = 0) -> list[dict[str, Any]]:
    """Pending rows, interleaved across aggregates (like concurrent requests): ``seq`` counts per aggregate."""
    rows = []
    for seq in range(first_seq, first_seq + per_aggregate):
        for aggregate in aggregates:
            event_id = uuid.uuid4()
            rows.append({"event_id": event_id, "topic": topic, "key": str(aggregate), "aggregate_type": "enrollment",
                         "aggregate_id": aggregate, "event_type": "enrollment.progressed", "event_version": 1,
                         "envelope": json.dumps(envelope(event_id, aggregate, seq))})
    sql = text("INSERT INTO outbox (event_id, topic, key, aggregate_type, aggregate_id, event_type, event_version, "
               "envelope) SELECT * FROM unnest(CAST(:event_id AS uuid[]), CAST(:topic AS text[]), "
               "CAST(:key AS text[]), CAST(:aggregate_type AS text[]), CAST(:aggregate_id AS uuid[]), "
               "CAST(:event_type AS text[]), CAST(:event_version AS int[]), CAST(:envelope AS jsonb[]))")
    with engine.begin() as connection:
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            connection.execute(sql, {name: [r[name] for r in part] for name in part[0]})
    return rows


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Every record of ``topic`` (all partitions, from the beginning); stops at ``expected`` or the timeout.

    Waits a little past ``expected`` so that duplicates would show up too.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < deadline:
            for batch in consumer.poll(500).values():
                records.extend(batch)
            if len(records) >= expected:
                settle_until = settle_until or time.monotonic() + 1.0
                if time.monotonic() >= settle_until:
                    break
        return records
    finally:
        consumer.close()


class PublisherThread:
    """The publisher loop in a thread: drain, then sleep ``idle_seconds`` when nothing was due.

    For a commit → consumer latency run: ``with PublisherThread(publisher): <commit at 50/s and consume>``.
    Nudges are not modelled: the idle sleep stands in for the nudge's delay (keep it small, e.g. 0.05 s).
    """

    def __init__(self, publisher: Any, idle_seconds: float = 0.05) -> None:
        self.publisher = publisher
        self.idle_seconds = idle_seconds
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            summary = self.publisher.drain(lambda: not self._stop.is_set())
            self.published += summary.published
            if summary.published == 0:
                self._stop.wait(self.idle_seconds)

    def __enter__(self) -> PublisherThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def start_publisher_thread(database_url: str, bootstrap: str, idle_seconds: float = 0.05,
                           batch_size: int = BATCH_SIZE) -> PublisherThread:
    """A running publisher loop against ``database_url`` and ``bootstrap``; call ``.stop()`` when done."""
    thread = PublisherThread(_publisher(database_url, bootstrap, batch_size), idle_seconds)
    thread._thread.start()
    return thread


def _publisher(database_url: str, bootstrap: str, batch_size: int) -> Any:
    from smartcourse.db.engine import make_engine
    from smartcourse.kafka_client import make_producer
    from smartcourse.outbox.publisher import OutboxPublisher, PublisherConfig

    return OutboxPublisher(make_engine(database_url), lambda: make_producer(bootstrap_servers=bootstrap),
                           PublisherConfig(batch_size=batch_size))


@dataclass(frozen=True)
class DrainRun:
    rows: int
    seconds: float
    batches: int

    @property
    def events_per_s(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class DrainResult:
    runs: list[DrainRun]
    batch_size: int
    aggregates: int

    @property
    def median_events_per_s(self) -> float:
        return statistics.median(r.events_per_s for r in self.runs)


def measure_drain(database_url: str, bootstrap: str, create_topics: Callable[[list[str]], None],
                  rows: int = ROWS, runs: int = RUNS, batch_size: int = BATCH_SIZE,
                  log: Callable[[str], None] = print) -> DrainResult:
    """``database_url`` must be a migrated LMS database no other publisher drains."""
    from smartcourse.db.engine import make_engine

    engine = make_engine(database_url)
    results = []
    n_aggregates = rows // EVENTS_PER_AGGREGATE
    try:
        for run in range(runs):
            topic = f"{TOPIC}.bench-{uuid.uuid4().hex[:8]}"
            create_topics([topic])
            with engine.begin() as connection:
                connection.execute(text("TRUNCATE outbox"))
            insert_pending(engine, topic, [uuid.uuid4() for _ in range(n_aggregates)], EVENTS_PER_AGGREGATE)
            with engine.begin() as connection:
                connection.execute(text("ANALYZE outbox"))
            publisher = _publisher(database_url, bootstrap, batch_size)
            publisher.producer()  # connecting is not draining: bootstrap before the clock starts
            try:
                started = time.perf_counter()
                summary = publisher.drain()
                seconds = time.perf_counter() - started
            finally:
                publisher.close()
                publisher.engine.dispose()
            if summary.published != rows:
                raise RuntimeError(f"drained {summary.published} of {rows} rows: {summary}")
            results.append(DrainRun(rows, seconds, summary.batches))
            log(f"  run {run + 1}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} events/s "
                f"({summary.batches} batches)")
    finally:
        engine.dispose()
    return DrainResult(results, batch_size, n_aggregates)


def render(result: DrainResult) -> list[str]:
    median = result.median_events_per_s
    size = len(json.dumps(envelope(uuid.uuid4(), uuid.uuid4(), 1)))
    runs = ", ".join(f"{r.events_per_s:,.0f}" for r in result.runs)
    return [
        "",
        "### Outbox drain throughput",
        "",
        f"{result.runs[0].rows:,} pending rows ({result.aggregates:,} aggregates x {EVENTS_PER_AGGREGATE} "
        f"events, interleaved like concurrent requests; ~{size}-byte LMS-shaped envelopes) bulk-inserted, then "
        "drained by the publisher in-process to the local broker (Tansu, 3 partitions): claim with one "
        "`FOR UPDATE SKIP LOCKED` statement (keeping per-aggregate order), produce with acks=all, idempotent, "
        f"uncompressed, wait for every ack, mark the batch published with one UPDATE; batch size "
        f"{result.batch_size}. Timed from the first claim to the last commit (the producer is connected "
        f"before). Median of {len(result.runs)} runs.",
        "",
        "| rows | runs (events/s) | median events/s | goal | met |",
        "|---:|---|---:|---:|:---:|",
        f"| {result.runs[0].rows:,} | {runs} | {median:,.0f} | ≥ {GOAL_EVENTS_PER_S:,} | "
        f"{'met' if median >= GOAL_EVENTS_PER_S else 'not met'} |",
    ]


def main() -> int:
    from localcloud.services import KafkaService, PostgresService, free_port
    from smartcourse.db.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="smartcourse-outbox-bench-") as state:
        postgres = PostgresService(data_dir=Path(state) / "pgdata", port=free_port())
        kafka = KafkaService(port=free_port(), log_path=Path(state) / "kafka.log")
        postgres.start()
        kafka.start()
        try:
            url = postgres.database_url("outbox_bench")
            upgrade(url)
            result = measure_drain(url, kafka.bootstrap, kafka.create_topics)
        finally:
            kafka.stop()
            postgres.stop()
    print("\n".join(render(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
