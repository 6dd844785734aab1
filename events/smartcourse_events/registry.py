"""(event_type, version) → payload model, and the two doors through it: build (producers) and parse (consumers)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from smartcourse_events.base import EventPayload
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.user import (
    UserEmailVerifiedV1,
    UserPasswordResetRequestedV1,
    UserRegisteredV1,
    UserRoleChangedV1,
)

_MODELS: tuple[type[EventPayload], ...] = (
    UserRegisteredV1,
    UserPasswordResetRequestedV1,
    UserEmailVerifiedV1,
    UserRoleChangedV1,
)

REGISTRY: dict[tuple[str, int], type[EventPayload]] = {(m.event_type, m.event_version): m for m in _MODELS}


class UnknownEventType(LookupError):
    """No model for this (event_type, version); consumers skip such events."""


def payload_model(event_type: str, version: int) -> type[EventPayload]:
    try:
        return REGISTRY[(event_type, version)]
    except KeyError:
        raise UnknownEventType(f"{event_type} v{version}") from None


def topic_for(event_type: str, version: int = 1) -> str:
    return payload_model(event_type, version).topic


def build_event(
    payload: EventPayload | Mapping[str, Any],
    *,
    event_type: str | None = None,
    event_version: int | None = None,
    aggregate_id: uuid.UUID | str | None = None,
    producer: str = "lms",
    correlation_id: str | None = None,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> EventEnvelope:
    """A validated envelope, ready for the outbox.

    Strict on purpose: unknown payload fields are an error here (they would
    be silently dropped by consumers), and every required field must be set.
    ``aggregate_id`` defaults to the payload's ``user_id``/``<aggregate>_id``.
    """
    if isinstance(payload, EventPayload):
        model: type[EventPayload] = type(payload)
        if event_type not in (None, model.event_type) or event_version not in (None, model.event_version):
            raise ValueError(f"payload is a {model.event_type} v{model.event_version} model")
        data = payload.model_dump(mode="json")
        validated = payload
    else:
        if event_type is None:
            raise ValueError("event_type is required for a dict payload")
        model = payload_model(event_type, event_version or 1)
        unknown = set(payload) - set(model.model_fields)
        if unknown:
            raise ValueError(f"unknown payload fields for {model.event_type}: {sorted(unknown)}")
        validated = model.model_validate(dict(payload))
        data = validated.model_dump(mode="json")
    if aggregate_id is None:
        aggregate_id = getattr(validated, f"{model.aggregate_type}_id", None)
        if aggregate_id is None:
            raise ValueError("aggregate_id is required")
    return EventEnvelope(
        event_id=event_id or uuid.uuid4(),
        event_type=model.event_type,
        event_version=model.event_version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        aggregate_type=model.aggregate_type,
        aggregate_id=uuid.UUID(str(aggregate_id)),
        correlation_id=correlation_id,
        payload=data,
    )


def parse_event(raw: Mapping[str, Any] | str | bytes) -> tuple[EventEnvelope, EventPayload]:
    """Envelope and typed payload of a received event; raises ``UnknownEventType`` for types to skip."""
    envelope = (EventEnvelope.model_validate_json(raw) if isinstance(raw, str | bytes)
                else EventEnvelope.model_validate(raw))
    model = payload_model(envelope.event_type, envelope.event_version)
    return envelope, model.model_validate(envelope.payload)


def json_schemas() -> dict[str, Any]:
    """JSON Schema of the envelope and of every payload, keyed ``<event_type>.v<version>``."""
    schemas: dict[str, Any] = {"envelope": EventEnvelope.model_json_schema()}
    for (event_type, version), model in sorted(REGISTRY.items()):
        schema = model.model_json_schema()
        schema["x-topic"] = model.topic
        schemas[f"{event_type}.v{version}"] = schema
    return schemas
