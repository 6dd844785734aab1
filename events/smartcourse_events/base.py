"""Base class of every payload model."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    """A payload of one event type and version.

    ``extra="ignore"`` makes consumers tolerate fields added by a newer
    producer; producers are held to the exact contract by ``build_event``,
    which rejects unknown fields before anything reaches the outbox.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    topic: ClassVar[str]
    aggregate_type: ClassVar[str]
