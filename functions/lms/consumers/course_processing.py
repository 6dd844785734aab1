"""Kafka consumer: the AI service's course.processing_completed / course.processing_failed set processing_status."""

from smartcourse.consumers import EventConsumer
from smartcourse.db.engine import get_engine
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.service import apply_processing_event

FUNCTION = function("lms-consume-course-processing")
# One effect per event type of FUNCTION.kafka.event_types, exactly (EventConsumer checks it on import).
consumer = EventConsumer(
    function=FUNCTION,
    name="lms-course-processing",
    effects={
        "course.processing_completed": apply_processing_event,
        "course.processing_failed": apply_processing_event,
    },
    engine=get_engine,
)

handler = consumer.lambda_handler
