"""Idempotent Kafka consumers for Lambda (MSK / self-managed Kafka event source mappings).

Per record, in partition order:

* decode (JSON) and validate the envelope, then its payload against its contract; a record that cannot be
  decoded or validated is *poison* and goes straight to the dead-letter queue;
* an unknown event type, or a type this consumer has no effect for, is ignored;
* otherwise one transaction: claim ``(consumer, event_id)`` in
  ``processed_events`` (``ON CONFLICT DO NOTHING``); when the claim returns no
  row the event was applied before and is skipped, else the effect runs on the
  same connection and both commit together;
* a failing effect is retried in-process with a short backoff, then the
  original record is dead-lettered and the batch goes on.

Whatever cannot be dead-lettered (no DLQ, SQS down, the database itself
unreachable) fails the whole batch: the event source mapping delivers it
again, and the ``processed_events`` claims make the replay harmless.

A consumer with a ``batch_effect`` (high-volume read models) first tries the
whole batch in one transaction: one bulk claim, one call with the newly
claimed events. Should that transaction fail for any reason but an outage, it
falls back to the per-record path above, so a single bad record still costs
only itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.kafka import ConsumerRecords, SchemaConfig, kafka_consumer
from aws_lambda_powertools.utilities.kafka.consumer_records import ConsumerRecordRecords
from smartcourse_events.base import EventPayload
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import REGISTRY, UnknownEventType, payload_model
from sqlalchemy import Connection, Engine, String, Uuid, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.sql.expression import TableClause

from smartcourse.catalogue import Function
from smartcourse.consumers.dlq import dead_letter_message, send_dead_letter
from smartcourse.db.messaging import PROCESSED_EVENTS
from smartcourse.observability import (
    METRICS_NAMESPACE,
    bind_correlation_id,
    correlation_scope,
    envelope_correlation_id,
    logger,
    observed,
    service_name,
)
from smartcourse.settings import get_settings

# Records a consumer gave up on (sent to its DLQ), per run; dimensions: the service and the consumer.
RECORDS_DEAD_LETTERED = "ConsumerRecordsDeadLettered"

Effect = Callable[[EventEnvelope, Connection], None]
# Applies a batch of newly claimed events (in delivery order) on one connection, in the claim's transaction.
BatchEffect = Callable[[Sequence[EventEnvelope], Connection], None]

JSON_VALUES = SchemaConfig(value_schema_type="JSON")

# Errors meaning "the database is not there", not "this record is bad": dead-lettering every record of the
# batch during an outage would be wrong, so these fail the batch (redelivered later) instead.
_INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)



class RetryLater(Exception):
    """Raised by an effect whose input is not there *yet* (e.g. a projection fed by another topic).

    Topics are consumed by separate event source mappings, so an event can arrive before one from another
    topic it depends on. Within the record's retry window the whole batch fails and the mapping redelivers
    it later (with its backoff; applied records are skipped as duplicates); past the window the record is
    dead-lettered like any other record that keeps failing.
    """


@dataclass
class BatchSummary:
    records: int = 0
    applied: int = 0
    skipped_duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "records": self.records,
            "applied": self.applied,
            "skipped_duplicates": self.skipped_duplicates,
            "ignored": self.ignored,
            "dead_lettered": self.dead_lettered,
        }


def typed_payload(envelope: EventEnvelope) -> EventPayload:
    """The envelope's payload as its registered model (for effects; the consumer already validated it)."""
    return payload_model(envelope.event_type, envelope.event_version).model_validate(envelope.payload)


def claim_new(conn: Connection, consumer: str, envelopes: Sequence[EventEnvelope],
              table: TableClause = PROCESSED_EVENTS) -> list[EventEnvelope]:
    """Claim ``envelopes`` for ``consumer`` in one statement; the ones not applied before, in their order.

    Repeats inside ``envelopes`` count once (the first). Runs in the caller's transaction: the claims commit
    (or roll back) with the effect.
    """
    first: dict[Any, EventEnvelope] = {}
    for envelope in envelopes:
        first.setdefault(envelope.event_id, envelope)
    if not first:
        return []
    # unnest of two parallel arrays: one round trip however large the batch is.
    pairs = func.unnest(bindparam("ids", type_=ARRAY(Uuid())), bindparam("types", type_=ARRAY(String()))) \
        .table_valued("event_id", "event_type").render_derived()
    claim = (
        insert(table)
        .from_select(["consumer", "event_id", "event_type"],
                     select(literal(consumer, String()), pairs.c.event_id, pairs.c.event_type))
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    claimed = set(conn.execute(claim, {"ids": list(first), "types": [e.event_type for e in first.values()]})
                  .scalars())
    return [envelope for event_id, envelope in first.items() if event_id in claimed]


def _where(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"topic": raw.get("topic"), "partition": raw.get("partition"), "offset": raw.get("offset")}


class ConsumerDeclarationError(ValueError):
    """A consumer's effects differ from the event types its catalogue entry declares (raised at import)."""


@dataclass(frozen=True)
class EventConsumer:
    """One Kafka consumer: the function it is, its name (the ``processed_events.consumer`` value) and an effect
    per event type.

    ``function`` is the consumer's catalogue entry: its ``KafkaTrigger.event_types`` are the one declaration of
    what it consumes (its topics, the stacks' event source mappings and the event docs derive from them), so
    ``effects`` must handle exactly those types; anything else fails at construction, i.e. when the handler
    module is imported.
    """

    function: Function
    name: str
    effects: Mapping[str, Effect]
    engine: Callable[[], Engine]
    # None: from the settings (CONSUMER_DLQ_URL, CONSUMER_MAX_ATTEMPTS), read at call time.
    dlq_url: str | None = None
    max_attempts: int | None = None
    backoff_seconds: float = 0.05
    # In-process retries stop when the invocation has less time left than this: a batch of records that all
    # fail must still end (each dead-lettered after one attempt) before the function times out, or every
    # redelivery would start over and dead-letter the same records again.
    retry_reserve_ms: int = 10_000
    # How long after it was produced a record may keep failing the batch with RetryLater.
    retry_window_seconds: float = 300.0
    processed_table: TableClause = field(default=PROCESSED_EVENTS)
    # Optional: the whole batch in one transaction (see the module's docstring); ``effects`` remain the
    # per-record fallback and the declaration of the handled types.
    batch_effect: BatchEffect | None = None

    def __post_init__(self) -> None:
        trigger = self.function.kafka
        if trigger is None:
            raise ConsumerDeclarationError(f"{self.function.name} declares no Kafka trigger")
        declared, handled = set(trigger.event_types), set(self.effects)
        problems = []
        if undeclared := handled - declared:
            problems.append(f"effects for undeclared event types {sorted(undeclared)}")
        if unhandled := declared - handled:
            problems.append(f"no effect for declared event types {sorted(unhandled)}")
        if unknown := declared - {event_type for event_type, _version in REGISTRY}:
            problems.append(f"declared event types without a contract {sorted(unknown)}")
        if problems:
            raise ConsumerDeclarationError(f"consumer {self.name} ({self.function.name}): {'; '.join(problems)}")

    # -- Lambda entry points ---------------------------------------------------------------------------

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, int]:
        """Handle one MSK / self-managed Kafka Lambda event (the raw event dict)."""
        return self.process(ConsumerRecords(event, JSON_VALUES), context)

    @cached_property
    def lambda_handler(self) -> Callable[[dict[str, Any], Any], dict[str, int]]:
        """The Lambda entry point: ``handler = EventConsumer(...).lambda_handler``."""
        return make_handler(self)

    # -- the batch --------------------------------------------------------------------------------------

    def process(self, records: ConsumerRecords, context: Any = None) -> dict[str, int]:
        summary = BatchSummary()
        try:
            if self.batch_effect is not None:
                self._process_as_batch(records, summary, context)
            else:
                for record in records.records:
                    summary.records += 1
                    with correlation_scope(None):  # each record's log lines carry its own event's correlation id
                        outcome = self._process_record(record, context)
                    _count(summary, outcome)
        finally:
            self._publish_metrics(summary)
        logger.info("consumer batch done", extra={"consumer": self.name, **summary.as_dict()})
        return summary.as_dict()

    def _process_as_batch(self, records: ConsumerRecords, summary: BatchSummary, context: Any) -> None:
        assert self.batch_effect is not None
        pending: list[tuple[Mapping[str, Any], EventEnvelope]] = []
        for record in records.records:
            summary.records += 1
            with correlation_scope(None):
                outcome, envelope = self._decode(record)
            if envelope is None:
                _count(summary, outcome)
            else:
                pending.append((record.raw_event, envelope))
        if not pending:
            return
        try:
            with self.engine().begin() as conn:
                new = claim_new(conn, self.name, [envelope for _, envelope in pending], self.processed_table)
                if new:
                    self.batch_effect(new, conn)
        except _INFRASTRUCTURE_ERRORS:
            logger.error("database unavailable: failing the batch", extra={"consumer": self.name})
            raise
        except Exception as exc:  # rolled back: find the record(s) at fault one by one
            logger.warning("batch transaction failed; applying record by record", extra={
                "consumer": self.name, "records": len(pending), "error_type": type(exc).__name__})
        else:
            summary.applied += len(new)
            summary.skipped_duplicates += len(pending) - len(new)
            return
        for raw, envelope in pending:
            with correlation_scope(None):
                bind_correlation_id(envelope_correlation_id(envelope.correlation_id, envelope.event_id))
                outcome = self._apply_with_retries(raw, envelope, self.effects[envelope.event_type], context)
            _count(summary, outcome)

    def _process_record(self, record: ConsumerRecordRecords, context: Any) -> str:
        outcome, envelope = self._decode(record)
        if envelope is None:
            return outcome
        return self._apply_with_retries(record.raw_event, envelope, self.effects[envelope.event_type], context)

    def _decode(self, record: ConsumerRecordRecords) -> tuple[str, EventEnvelope | None]:
        """The record's validated envelope, or why there is none ("ignored", "dead_lettered")."""
        raw: Mapping[str, Any] = record.raw_event
        try:
            value = record.value
            # The envelope alone first: a type this consumer does not handle is ignored even when its payload is
            # invalid (a shared topic's other consumers own that problem, and dead-letter it themselves).
            header = EventEnvelope.model_validate(value)
            bind_correlation_id(envelope_correlation_id(header.correlation_id, header.event_id))
            if header.event_type not in self.effects:
                logger.debug("event type without an effect ignored", extra={
                    "consumer": self.name, "event_id": str(header.event_id), "event_type": header.event_type})
                return "ignored", None
            # The payload against its contract (the envelope is validated already: not twice).
            payload_model(header.event_type, header.event_version).model_validate(header.payload)
            envelope = header
        except UnknownEventType as exc:
            logger.debug("unknown event type ignored", extra={
                "consumer": self.name, "event_type": str(exc),
                "event_id": str(exc.envelope.event_id) if exc.envelope else None, **_where(raw)})
            return "ignored", None
        except Exception as exc:  # undecodable or invalid: retrying cannot help
            logger.warning("poison record", extra={
                "consumer": self.name, "error_type": type(exc).__name__, **_where(raw)})
            self._dead_letter(raw, exc, attempts=1)
            return "dead_lettered", None
        return "", envelope

    def _apply_with_retries(self, raw: Mapping[str, Any], envelope: EventEnvelope, effect: Effect,
                            context: Any) -> str:
        max_attempts = self._max_attempts()
        ids = {"consumer": self.name, "event_id": str(envelope.event_id), "event_type": envelope.event_type}
        attempt = 0
        while True:
            attempt += 1
            try:
                applied = self._apply_once(envelope, effect)
            except Exception as exc:  # the transaction rolled back; try again or give up on the record
                # The error type only: messages can quote data (a constraint's key, a validation input); the
                # full message travels in the (encrypted) DLQ message.
                logger.warning("effect failed", extra={**ids, "attempt": attempt, "error_type": type(exc).__name__})
                if attempt < max_attempts and not self._out_of_time(context):
                    time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                    continue
                if isinstance(exc, _INFRASTRUCTURE_ERRORS):
                    logger.error("database unavailable: failing the batch", extra=ids)
                    raise
                if isinstance(exc, RetryLater) and self._within_retry_window(raw):
                    logger.warning("not ready yet: failing the batch for redelivery", extra=ids)
                    raise
                self._dead_letter(raw, exc, attempts=attempt, event=ids)
                return "dead_lettered"
            if not applied:
                logger.debug("duplicate delivery skipped", extra=ids)
                return "skipped_duplicates"
            logger.debug("event applied", extra=ids)
            return "applied"

    def _within_retry_window(self, raw: Mapping[str, Any]) -> bool:
        produced_ms = raw.get("timestamp")
        if not isinstance(produced_ms, int | float):
            return False
        return time.time() - produced_ms / 1000 < self.retry_window_seconds

    def _apply_once(self, envelope: EventEnvelope, effect: Effect) -> bool:
        """One transaction: claim the event, run the effect; False when the event was already applied."""
        claim = (
            insert(self.processed_table)
            .values(consumer=self.name, event_id=envelope.event_id, event_type=envelope.event_type)
            .on_conflict_do_nothing()
            .returning(self.processed_table.c.event_id)
        )
        with self.engine().begin() as conn:
            if conn.execute(claim).first() is None:
                return False
            effect(envelope, conn)
        return True

    def _dead_letter(self, raw: Mapping[str, Any], error: BaseException, *, attempts: int,
                     event: Mapping[str, Any] | None = None) -> None:
        # Raises DeadLetterError when it cannot send: the batch fails and the record is delivered again.
        send_dead_letter(self._dlq_url(), dead_letter_message(self.name, raw, error, attempts))
        logger.error("record dead-lettered", extra={
            "consumer": self.name, **(event or {}), **_where(raw), "attempts": attempts,
            "error_type": type(error).__name__})

    # -- configuration and metrics ----------------------------------------------------------------------

    def _out_of_time(self, context: Any) -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return callable(remaining) and int(remaining()) < self.retry_reserve_ms

    def _max_attempts(self) -> int:
        return max(1, self.max_attempts if self.max_attempts is not None else get_settings().consumer_max_attempts)

    def _dlq_url(self) -> str | None:
        return self.dlq_url or get_settings().consumer_dlq_url

    def _publish_metrics(self, summary: BatchSummary) -> None:
        if not summary.dead_lettered:
            return
        try:
            metrics = Metrics(namespace=METRICS_NAMESPACE, service=service_name())
            metrics.add_dimension(name="consumer", value=self.name)
            metrics.add_metric(name=RECORDS_DEAD_LETTERED, unit=MetricUnit.Count,
                               value=summary.dead_lettered)
            metrics.flush_metrics()
        except Exception:  # metrics are best effort; the DLQ already has the records
            logger.exception("could not publish consumer metrics", extra={"consumer": self.name})


def _count(summary: BatchSummary, outcome: str) -> None:
    setattr(summary, outcome, getattr(summary, outcome) + 1)


def make_handler(consumer: EventConsumer) -> Callable[[dict[str, Any], Any], dict[str, int]]:
    """The Lambda entry point for ``consumer``, through Powertools' Kafka consumer utility (JSON values)."""

    @kafka_consumer(schema_config=JSON_VALUES)
    def handler(records: ConsumerRecords, context: Any) -> dict[str, int]:
        return consumer.process(records, context)

    return observed(handler)
