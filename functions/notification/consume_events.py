"""Kafka consumer: user, course, enrollment and analytics (nudge, report) events → projections and planned sends."""

from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import get_engine
from smartcourse_notification.catalogue import function
from smartcourse_notification.consumer import CONSUMER_NAME, EFFECTS

FUNCTION = function("notification-consume-events")
# EFFECTS covers FUNCTION.kafka.event_types exactly (EventConsumer checks it on import).
consumer = EventConsumer(function=FUNCTION, name=CONSUMER_NAME, effects=EFFECTS, engine=get_engine)
handler = consumer.lambda_handler
