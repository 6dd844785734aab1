"""The outbox publisher's metric names: emitted by the publisher function, alarmed on by the stacks."""

from __future__ import annotations

OUTBOX_ROWS_PUBLISHED = "OutboxRowsPublished"
OUTBOX_ROWS_FAILED = "OutboxRowsFailed"  # rows parked after their last attempt (alarm: any)
OUTBOX_ROWS_RETRIED = "OutboxRowsRetried"
OUTBOX_BROKER_UNAVAILABLE = "OutboxBrokerUnavailable"  # 1 per publisher run that found the broker unreachable
