"""(event_type, version) → payload model, and the two doors through it: build (producers) and parse (consumers)."""

from __future__ import annotations

import types
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from smartcourse_events.analytics import LearnerNudgeRequestedV1, ReportReadyV1
from smartcourse_events.base import EventPayload
from smartcourse_events.course import (
    CourseArchivedV1,
    CourseCreatedV1,
    CourseProcessingCompletedV1,
    CourseProcessingFailedV1,
    CoursePublishedV1,
)
from smartcourse_events.enrollment import (
    CertificateIssuedV1,
    EnrollmentCompletedV1,
    EnrollmentCreatedV1,
    EnrollmentDroppedV1,
)
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.progress import ProgressUpdatedV1
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
    CourseCreatedV1,
    CoursePublishedV1,
    CourseArchivedV1,
    CourseProcessingCompletedV1,
    CourseProcessingFailedV1,
    EnrollmentCreatedV1,
    EnrollmentDroppedV1,
    EnrollmentCompletedV1,
    CertificateIssuedV1,
    ProgressUpdatedV1,
    ReportReadyV1,
    LearnerNudgeRequestedV1,
)

REGISTRY: dict[tuple[str, int], type[EventPayload]] = {(m.event_type, m.event_version): m for m in _MODELS}


@dataclass(frozen=True)
class Route:
    """Who writes an event type (events.md, "Topics and events").

    Who reads it is not here: each consumer function declares the event types it handles
    (``KafkaTrigger.event_types`` in its service's catalogue), the one source of its subscriptions and of the
    exported docs' consumers column.
    """

    producer: str


ROUTES: dict[str, Route] = {
    "user.registered": Route("lms"),
    "user.password_reset_requested": Route("lms"),
    "user.email_verified": Route("lms"),
    "user.role_changed": Route("lms"),
    "course.created": Route("lms"),
    "course.published": Route("lms"),
    "course.archived": Route("lms"),
    "course.processing_completed": Route("ai"),
    "course.processing_failed": Route("ai"),
    "enrollment.created": Route("lms"),
    "enrollment.dropped": Route("lms"),
    "enrollment.completed": Route("lms"),
    "certificate.issued": Route("lms"),
    "progress.updated": Route("lms"),
    "report.ready": Route("analytics"),
    "learner.nudge_requested": Route("analytics"),
}

if {m.event_type for m in _MODELS} != set(ROUTES):  # pragma: no cover - a contract edit missed one side
    raise RuntimeError("every registered event type needs exactly one route, and every route a model")


class UnknownEventType(LookupError):
    """No model for this (event_type, version); consumers skip such events.

    Raised by ``parse_event`` with ``envelope`` set, so a consumer can log
    (and de-duplicate on) the skipped event's id.
    """

    def __init__(self, message: str, envelope: EventEnvelope | None = None) -> None:
        super().__init__(message)
        self.envelope = envelope


def payload_model(event_type: str, version: int) -> type[EventPayload]:
    try:
        return REGISTRY[(event_type, version)]
    except KeyError:
        raise UnknownEventType(f"{event_type} v{version}") from None


def topic_for(event_type: str, version: int = 1) -> str:
    return payload_model(event_type, version).topic


def route_for(event_type: str) -> Route:
    try:
        return ROUTES[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def _unknown_fields(model: type[BaseModel], data: Any, path: str = "") -> set[str]:
    """Keys of ``data`` (recursively, through nested models and lists of them) that ``model`` does not declare."""
    if not isinstance(data, Mapping):
        return set()
    unknown = {f"{path}{key}" for key in data if key not in model.model_fields}
    for name, field in model.model_fields.items():
        if name in data:
            unknown |= _unknown_in(field.annotation, data[name], f"{path}{name}")
    return unknown


def _unknown_in(annotation: Any, value: Any, path: str) -> set[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _unknown_fields(annotation, value, f"{path}.")
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset) and isinstance(value, list | tuple):
        return {found for i, item in enumerate(value) for arg in args if arg is not Ellipsis
                for found in _unknown_in(arg, item, f"{path}[{i}]")}
    if origin in (Union, types.UnionType):
        return {found for arg in args for found in _unknown_in(arg, value, path)}
    return set()


def build_event(
    payload: EventPayload | Mapping[str, Any],
    *,
    event_type: str | None = None,
    event_version: int | None = None,
    aggregate_id: uuid.UUID | str | None = None,
    producer: str | None = None,
    correlation_id: str | None = None,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> EventEnvelope:
    """A validated envelope, ready for the outbox.

    Strict on purpose: unknown payload fields are an error here (they would
    be silently dropped by consumers), also inside nested objects, and every
    required field must be set. ``aggregate_id`` defaults to the payload's
    ``<aggregate>_id``; ``producer`` to the event type's producer (events.md).
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
        unknown = _unknown_fields(model, payload)
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
        producer=producer or ROUTES[model.event_type].producer,
        aggregate_type=model.aggregate_type,
        aggregate_id=uuid.UUID(str(aggregate_id)),
        correlation_id=correlation_id,
        payload=data,
    )


def parse_event(raw: Mapping[str, Any] | str | bytes) -> tuple[EventEnvelope, EventPayload]:
    """Envelope and typed payload of a received event; raises ``UnknownEventType`` for types to skip."""
    envelope = (EventEnvelope.model_validate_json(raw) if isinstance(raw, str | bytes)
                else EventEnvelope.model_validate(raw))
    try:
        model = payload_model(envelope.event_type, envelope.event_version)
    except UnknownEventType as exc:
        raise UnknownEventType(str(exc), envelope) from None
    return envelope, model.model_validate(envelope.payload)


def json_schemas() -> dict[str, Any]:
    """JSON Schema of the envelope and of every payload, keyed ``<event_type>.v<version>``.

    Each payload schema also says where the event travels: ``x-event-type``,
    ``x-event-version``, ``x-topic``, ``x-aggregate-type`` and ``x-producer``
    (the export adds ``x-consumers`` from the consumer functions' declarations).
    """
    schemas: dict[str, Any] = {"envelope": EventEnvelope.model_json_schema()}
    for (event_type, version), model in sorted(REGISTRY.items()):
        route = ROUTES[event_type]
        schema = model.model_json_schema()
        schema["x-event-type"] = event_type
        schema["x-event-version"] = version
        schema["x-topic"] = model.topic
        schema["x-aggregate-type"] = model.aggregate_type
        schema["x-producer"] = route.producer
        schemas[f"{event_type}.v{version}"] = schema
    return schemas
