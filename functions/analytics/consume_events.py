"""Kafka consumer: user, course, enrollment, progress and nudge events → the analytics facts and roll-ups.

A batch is applied in one transaction (bulk statements); should it fail, record by record, so that only a
bad record goes to the dead-letter queue.
"""

from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import get_engine
from smartcourse_analytics.catalogue import CONSUMED_EVENT_TYPES, function
from smartcourse_analytics.ingest import CONSUMER_NAME, apply_events, apply_one

FUNCTION = function("analytics-consume-events")
consumer = EventConsumer(function=FUNCTION, name=CONSUMER_NAME, effects=dict.fromkeys(CONSUMED_EVENT_TYPES, apply_one),
                         engine=get_engine, batch_effect=apply_events)
handler = consumer.lambda_handler
