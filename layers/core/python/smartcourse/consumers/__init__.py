"""Idempotent Kafka event consumers for Lambda (see ``framework`` and docs/events.md).

Usage, in a function module::

    from smartcourse.consumers import EventConsumer
    from smartcourse.db.engine import get_engine
    from smartcourse_lms.catalogue import function

    # effects must cover exactly the entry's KafkaTrigger.event_types (checked when the module is imported)
    consumer = EventConsumer(function=function("lms-consume-course-processing"), name="lms-course-processing",
                             effects={"course.processing_completed": apply, "course.processing_failed": apply},
                             engine=get_engine)
    handler = consumer.lambda_handler
"""

from smartcourse.consumers.dlq import DeadLetterError, dead_letter_message
from smartcourse.consumers.framework import (
    PROCESSED_EVENTS,
    BatchEffect,
    BatchSummary,
    ConsumerDeclarationError,
    Effect,
    EventConsumer,
    RetryLater,
    claim_new,
    make_handler,
    typed_payload,
)

__all__ = [
    "PROCESSED_EVENTS",
    "BatchEffect",
    "BatchSummary",
    "ConsumerDeclarationError",
    "DeadLetterError",
    "Effect",
    "EventConsumer",
    "RetryLater",
    "claim_new",
    "dead_letter_message",
    "make_handler",
    "typed_payload",
]
