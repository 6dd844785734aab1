"""The two messaging tables every service database holds, made by one factory each.

``outbox``: events written in the same transaction as the change they describe (the publisher drains it).
``processed_events``: the event ids a consumer of this database has applied, claimed in the same
transaction as the effect (consumers are idempotent by ``event_id``); one table for all of its consumers.

A service's ``tables`` module adds them to its own metadata; the core's unit of work, publisher and
consumer framework use the module-level copies below (same shape, so they work against any service database).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, MetaData, String, Table, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB

from smartcourse.db.conventions import one_of, timestamp
from smartcourse.outbox.rules import OutboxStatus


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("aggregate_type", String(50), nullable=False),
        Column("aggregate_id", Uuid, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("event_version", Integer, nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("status", String(16), nullable=False, server_default=str(OutboxStatus.PENDING)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        timestamp("next_attempt_at", nullable=False, default_now=True),
        Column("last_error", Text),
        timestamp("created_at", nullable=False, default_now=True),
        timestamp("published_at"),
        CheckConstraint(one_of("status", OutboxStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("uq_outbox_event_id", "event_id", unique=True),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_aggregate_id_id", "aggregate_id", "id"),
        # The publisher claims pending rows in id order; published rows (most of the table) stay out of it.
        Index("ix_outbox_pending_id", "id", postgresql_where=text(f"status = '{OutboxStatus.PENDING}'")),
    )


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", String(100), nullable=False),
        timestamp("processed_at", nullable=False, default_now=True),
    )


_CORE = MetaData()
OUTBOX = outbox_table(_CORE)
PROCESSED_EVENTS = processed_events_table(_CORE)
