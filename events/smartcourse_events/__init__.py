"""SmartCourse event contracts: the envelope, topic names, one payload model per event type and version.

Imported by producers (which validate strictly before writing to the outbox)
and consumers (which validate on read and tolerate added payload fields).
``python -m smartcourse_events.export`` writes the contracts as JSON Schema
to ``docs/events/`` (``make events``).
"""

from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import (
    ROUTES,
    Route,
    UnknownEventType,
    build_event,
    json_schemas,
    parse_event,
    payload_model,
    route_for,
    topic_for,
)

__all__ = [
    "ROUTES",
    "EventEnvelope",
    "Route",
    "UnknownEventType",
    "build_event",
    "json_schemas",
    "parse_event",
    "payload_model",
    "route_for",
    "topic_for",
]
