"""The envelope every event travels in (events.md)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventEnvelope(BaseModel):
    # Read side tolerance: a newer producer may add envelope fields.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=100)
    event_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1, max_length=50)
    aggregate_type: str = Field(min_length=1, max_length=50)
    aggregate_id: uuid.UUID
    correlation_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any]

    @property
    def key(self) -> str:
        """The Kafka message key."""
        return str(self.aggregate_id)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
