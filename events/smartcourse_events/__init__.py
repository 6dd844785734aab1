"""SmartCourse event contracts: the envelope, topic names, one payload model per event type and version.

Imported by producers (which validate strictly before writing to the outbox)
and consumers (which validate on read and tolerate added payload fields).
``smartcourse_events.export`` writes the contracts as JSON Schema to
``docs/events/`` (``make events``, through ``python -m stacks.events_export``,
which adds who consumes each type from the consumer functions' declarations).
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy: importing ``smartcourse_events.topics`` (the catalogue does, on every function's hot path) must not
# pull pydantic and every model in; the names below load on first use.
_EXPORTS = {
    "EventEnvelope": "smartcourse_events.envelope",
    **{name: "smartcourse_events.registry" for name in (
        "ROUTES", "Route", "UnknownEventType", "build_event", "json_schemas", "parse_event", "payload_model",
        "route_for", "topic_for")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smartcourse_events' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
