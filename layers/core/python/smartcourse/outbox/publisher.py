"""Drains an outbox table to Kafka: claim due rows, produce them, wait for the acks, mark them, in one transaction.

Concurrency. A batch is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and
stays locked while it is produced; the rows are marked published in the same
transaction, after every acknowledgement. Another publisher running at the
same time skips the locked rows, and once the first commits they are no longer
``pending``: a row is never published twice in the normal path. A publisher
that dies between the broker's ack and its commit leaves its rows pending and
they are sent again (at least once; consumers are idempotent by ``event_id``).
Holding row locks across the produce is cheap here: request transactions only
insert outbox rows, which never wait on those locks.

Order per aggregate. A pending row is claimable only when every earlier
(smaller id) pending row of its aggregate is claimed in the same batch:

* an earlier row waiting out its backoff blocks the later ones (excluded
  inside the locking scan, so they do not fill the batch and starve others);
* an earlier row locked by another publisher blocks them too: the scan skips
  the locked row but still sees it pending, so the later rows are dropped
  from this batch (they stay pending; the next drain takes them);
* a row parked as ``failed`` no longer blocks its aggregate: the later rows
  go on (a parked row needs a person anyway; blocking the aggregate forever
  would turn one poison event into an outage of that aggregate). Only a
  row's own failures (the broker rejected *it*) count toward parking: when
  the broker does not answer at all, rows wait a short capped delay without
  using up attempts (``rules.on_broker_down``), so an outage of any length
  parks nothing and breaks no aggregate's order.

Within a batch the rows of one aggregate are sent in id order to one
partition (same key) by an idempotent producer, which keeps their order.
When a row fails, the later rows of its aggregate in the batch are left
pending (see ``rules.settle``) and so are sent again after it. If the broker
had already taken such a later row, consumers see it before and after the
failed one; they skip the repeat by event_id, so in that rare case (a row
failing at the ack while a later one of its aggregate succeeded) the later
event is applied first.

Ids follow commit order per aggregate because events are inserted at commit,
after the use case wrote (and so locked) the aggregate's row in the same
transaction. Two transactions that only insert events of one aggregate, without
touching a shared row, may commit in either order; the id order is then the
order the publisher keeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from smartcourse import snapstart
from smartcourse.outbox.rules import FAILED, Backoff, on_broker_down, on_failure, settle

log = logging.getLogger(__name__)

# The locking scan returns every column the produce needs (the locked, latest version of each row); the
# outer filter drops rows whose aggregate still has an earlier pending row outside this batch.
CLAIM_SQL = text("""
WITH candidate AS (
    SELECT o.id, o.event_id, o.topic, o.key, o.aggregate_id, o.event_type, o.attempts,
           o.envelope::text AS value
    FROM outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= now()
      AND NOT EXISTS (
          SELECT 1 FROM outbox e
          WHERE e.aggregate_id = o.aggregate_id AND e.id < o.id
            AND e.status = 'pending' AND e.next_attempt_at > now())
    ORDER BY o.id
    LIMIT :limit
    FOR UPDATE OF o SKIP LOCKED
)
SELECT c.id, c.event_id, c.topic, c.key, c.aggregate_id, c.event_type, c.attempts, c.value
FROM candidate c
WHERE NOT EXISTS (
    SELECT 1 FROM outbox e
    WHERE e.aggregate_id = c.aggregate_id AND e.id < c.id AND e.status = 'pending'
      AND e.id NOT IN (SELECT id FROM candidate))
ORDER BY c.id
""")

# clock_timestamp(), not now(): now() is the claim's transaction start, before the produce.
MARK_PUBLISHED_SQL = text(
    "UPDATE outbox SET status = 'published', published_at = clock_timestamp() WHERE id = ANY(:ids)")
RECORD_FAILURE_SQL = text(
    "UPDATE outbox SET attempts = :attempts, status = :status, last_error = :error, "
    "next_attempt_at = clock_timestamp() + make_interval(secs => :delay) WHERE id = :id")
REQUEUE_FAILED_SQL = text(
    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now() WHERE status = 'failed'")


@dataclass(frozen=True)
class ClaimedRow:
    id: int
    event_id: str
    topic: str
    key: str
    aggregate_id: str
    event_type: str
    attempts: int
    value: str  # the envelope as JSON text


@dataclass(frozen=True)
class PublisherConfig:
    batch_size: int = 500
    max_attempts: int = 10
    backoff: Backoff = field(default_factory=Backoff)
    # How long to wait for the acks of one batch; the producer's delivery timeout bounds each record anyway.
    ack_timeout_seconds: float = 20.0
    # Kafka record headers: lets a consumer route or filter without parsing the value.
    headers: bool = True


@dataclass
class BatchResult:
    claimed: int = 0
    published: int = 0
    retried: int = 0  # failed attempts that leave the row pending (backoff)
    failed: int = 0  # rows parked as failed by this batch
    deferred: int = 0  # later rows of an aggregate whose earlier row failed in this batch
    broker_down: bool = False


@dataclass
class DrainSummary:
    published: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    batches: int = 0
    broker_down: bool = False
    seconds: float = 0.0

    def add(self, batch: BatchResult) -> None:
        self.published += batch.published
        self.failed += batch.failed
        self.retried += batch.retried
        self.deferred += batch.deferred
        self.batches += 1
        self.broker_down = self.broker_down or batch.broker_down

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BrokerUnavailable(Exception):
    """No producer could be built, or the broker stopped answering mid-batch."""


class OutboxPublisher:
    """Publishes one database's outbox. ``producer_factory`` builds a KafkaProducer-like client.

    The producer is built on first use and kept (warm invocations reuse it); after a broker-wide failure it is
    closed and built again next time, so a broker that came back is reached on fresh connections.
    """

    def __init__(self, engine: Engine, producer_factory: Callable[[], Any],
                 config: PublisherConfig | None = None) -> None:
        self.engine = engine
        self.config = config or PublisherConfig()
        self._producer_factory = producer_factory
        self._producer: Any = None
        snapstart.close_before_snapshot(self.reset_producer)  # no broker connection in a snapshot

    # ------------------------------------------------------------------ producer

    def producer(self) -> Any:
        if self._producer is None:
            try:
                self._producer = self._producer_factory()
            except Exception as exc:
                raise BrokerUnavailable(f"no Kafka producer: {type(exc).__name__}: {exc}") from exc
        return self._producer

    def reset_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # closing a client of a dead broker may fail; it is dropped either way
                log.debug("closing the producer failed", exc_info=True)

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self.config.ack_timeout_seconds)

    # ------------------------------------------------------------------ batches

    def claim(self, connection: Connection) -> list[ClaimedRow]:
        result = connection.execute(CLAIM_SQL, {"limit": self.config.batch_size})
        return [ClaimedRow(id=r.id, event_id=str(r.event_id), topic=r.topic, key=r.key,
                           aggregate_id=str(r.aggregate_id), event_type=r.event_type, attempts=r.attempts,
                           value=r.value) for r in result]

    def publish_batch(self) -> BatchResult:
        """Claim one batch, produce it, wait for the acks and write the outcome; one transaction."""
        with self.engine.connect() as connection, connection.begin():
            rows = self.claim(connection)
            if not rows:
                return BatchResult()
            errors, broker_down = self._produce(rows)
            if broker_down:
                self.reset_producer()
            settlement = settle([(r.id, r.aggregate_id) for r in rows], errors)
            result = BatchResult(claimed=len(rows), published=len(settlement.published),
                                 deferred=len(settlement.deferred), broker_down=broker_down)
            if settlement.published:
                connection.execute(MARK_PUBLISHED_SQL, {"ids": settlement.published})
            if settlement.failed:
                by_id = {r.id: r for r in rows}
                updates = []
                for row_id, error in settlement.failed.items():
                    outcome = (on_broker_down(by_id[row_id].attempts, error, self.config.backoff) if broker_down
                               else on_failure(by_id[row_id].attempts, self.config.max_attempts, error,
                                               self.config.backoff))
                    updates.append({"id": row_id, "attempts": outcome.attempts, "status": outcome.status,
                                    "error": outcome.error, "delay": outcome.delay_seconds})
                    if outcome.status == FAILED:
                        result.failed += 1
                        log.error("outbox row %s (%s, event %s) parked as failed after %s attempts: %s", row_id,
                                  by_id[row_id].event_type, by_id[row_id].event_id, outcome.attempts, outcome.error)
                    else:
                        result.retried += 1
                connection.execute(RECORD_FAILURE_SQL, updates)
            return result

    def _produce(self, rows: list[ClaimedRow]) -> tuple[dict[int, BaseException | str], bool]:
        """Send every row, wait for every ack: the rows that were not acknowledged, and whether the broker is down."""
        errors: dict[int, BaseException | str] = {}
        try:
            producer = self.producer()
        except BrokerUnavailable as exc:
            return dict.fromkeys((r.id for r in rows), exc), True
        from kafka.errors import KafkaTimeoutError

        sent: list[tuple[ClaimedRow, Any]] = []
        unsendable: set[str] = set()  # aggregates with a row that could not even be handed to the producer
        broker_down = False
        for row in rows:
            if broker_down:
                errors[row.id] = "not sent: the broker did not answer earlier in this batch"
                continue
            if row.aggregate_id in unsendable:
                continue  # settle() defers it behind the earlier row
            headers = ([("event_type", row.event_type.encode()), ("event_id", row.event_id.encode())]
                       if self.config.headers else None)
            try:
                future = producer.send(row.topic, key=row.key.encode(), value=row.value.encode(), headers=headers)
            except KafkaTimeoutError as exc:  # no metadata within max_block_ms: nothing else will get through
                errors[row.id], broker_down = exc, True
                continue
            except Exception as exc:  # this record only (too large, unknown topic …)
                errors[row.id] = exc
                unsendable.add(row.aggregate_id)
                continue
            sent.append((row, future))
        deadline = time.monotonic() + self.config.ack_timeout_seconds
        try:
            producer.flush(timeout=self.config.ack_timeout_seconds)
        except KafkaTimeoutError:
            log.warning("outbox: not every record was acknowledged within %ss", self.config.ack_timeout_seconds)
        acked = 0
        for row, future in sent:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
                acked += 1
            except Exception as exc:
                errors[row.id] = exc
        if sent and acked == 0:
            broker_down = True
        return errors, broker_down

    # ------------------------------------------------------------------ drain

    def drain(self, keep_going: Callable[[], bool] = lambda: True, max_batches: int | None = None) -> DrainSummary:
        """Publish batches until no due row is left, the broker is down, or ``keep_going()`` says stop."""
        started = time.monotonic()
        summary = DrainSummary()
        while keep_going() and (max_batches is None or summary.batches < max_batches):
            batch = self.publish_batch()
            if batch.claimed == 0:
                break
            summary.add(batch)
            if batch.broker_down:
                break  # the rows wait out their backoff; the schedule (or the next nudge) tries again
        summary.seconds = round(time.monotonic() - started, 3)
        return summary


def requeue_failed(engine: Engine) -> int:
    """Put every parked row back to pending with a fresh attempt count (after the cause was fixed)."""
    with engine.begin() as connection:
        return connection.execute(REQUEUE_FAILED_SQL).rowcount
