"""lms-outbox-publisher: drains the LMS outbox to Kafka.

Invoked by the schedule (the backstop, any payload) and nudged asynchronously
right after commits that wrote outbox rows (``{"reason": "nudge"}``). Either
way it drains until no due row is left or the invocation's time runs low, and
returns ``{published, failed, retried, …}``. A broker that does not answer is
not an error of the function: the rows wait out their backoff in the outbox.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from smartcourse.observability import metrics, observed
from smartcourse.outbox.metrics import (
    OUTBOX_BROKER_UNAVAILABLE,
    OUTBOX_ROWS_FAILED,
    OUTBOX_ROWS_PUBLISHED,
    OUTBOX_ROWS_RETRIED,
)

log = logging.getLogger(__name__)

# Stop starting batches when less than this is left: one batch may take the producer's bootstrap timeout plus
# the ack timeout, and the invocation must end before Lambda kills it mid-transaction.
STOP_WHEN_REMAINING_MS = 25_000

# The stacks alarm on OutboxRowsFailed / OutboxBrokerUnavailable in METRICS_NAMESPACE by the service dimension;
# `observed` flushes the metrics at the end of each invocation.
_publisher: Any = None


def get_publisher() -> Any:
    """The process-wide publisher; its producer is kept across warm invocations."""
    global _publisher
    if _publisher is None:
        from smartcourse.db.engine import get_engine
        from smartcourse.kafka_client import make_producer
        from smartcourse.outbox.publisher import OutboxPublisher, PublisherConfig
        from smartcourse.settings import get_settings

        settings = get_settings()
        _publisher = OutboxPublisher(
            get_engine(), make_producer,
            PublisherConfig(batch_size=settings.outbox_batch_size, max_attempts=settings.outbox_max_attempts))
    return _publisher


def _remaining_ms(context: Any) -> int | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return int(remaining()) if callable(remaining) else None


@observed
def handler(event: Any, context: Any) -> dict[str, Any]:
    reason = event.get("reason", "schedule") if isinstance(event, dict) else "schedule"

    def keep_going() -> bool:
        remaining = _remaining_ms(context)
        return remaining is None or remaining > STOP_WHEN_REMAINING_MS

    summary = get_publisher().drain(keep_going)
    metrics.add_metric(name=OUTBOX_ROWS_PUBLISHED, unit=MetricUnit.Count, value=summary.published)
    metrics.add_metric(name=OUTBOX_ROWS_FAILED, unit=MetricUnit.Count, value=summary.failed)
    metrics.add_metric(name=OUTBOX_ROWS_RETRIED, unit=MetricUnit.Count, value=summary.retried)
    # An outage parks no row (it uses up no attempts), so this is what tells that events are waiting on the broker.
    metrics.add_metric(name=OUTBOX_BROKER_UNAVAILABLE, unit=MetricUnit.Count, value=1 if summary.broker_down else 0)
    result = {"reason": reason, **summary.as_dict()}
    if summary.broker_down:
        log.warning("outbox: broker unavailable, rows left pending with backoff: %s", result)
    else:
        log.info("outbox drained: %s", result)
    return result
