"""Kafka consumer: user, course and enrollment events → recipients/courses projections and planned sends."""

from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import get_engine
from smartcourse_notification.catalogue import function
from smartcourse_notification.consumer import CONSUMER_NAME, EFFECTS

FUNCTION = function("notification-consume-events")
consumer = EventConsumer(name=CONSUMER_NAME, effects=EFFECTS, engine=get_engine)
handler = consumer.lambda_handler
