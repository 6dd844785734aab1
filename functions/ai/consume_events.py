"""Kafka consumer: course.published → an indexing run, course.archived → out of search, enrollment.created."""

from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import get_engine
from smartcourse_ai.catalogue import function
from smartcourse_ai.consumer import CONSUMER_NAME, make_effects
from smartcourse_ai.providers.registry import embedding_model_name

FUNCTION = function("ai-consume-events")
consumer = EventConsumer(function=FUNCTION, name=CONSUMER_NAME, effects=make_effects(embedding_model_name),
                         engine=get_engine)
handler = consumer.lambda_handler
