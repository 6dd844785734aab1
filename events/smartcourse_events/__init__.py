"""SmartCourse event contracts: the envelope, topic names, one payload model per event type and version.

Imported by producers (which validate strictly before writing to the outbox)
and consumers (which validate on read and tolerate added payload fields).
"""

from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import (
    UnknownEventType,
    build_event,
    json_schemas,
    parse_event,
    payload_model,
    topic_for,
)

__all__ = [
    "EventEnvelope",
    "UnknownEventType",
    "build_event",
    "json_schemas",
    "parse_event",
    "payload_model",
    "topic_for",
]
