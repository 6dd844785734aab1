"""Request-scoped values that deep layers need without threading them through every call."""

from __future__ import annotations

from contextvars import ContextVar

# The API Gateway request id (or the triggering event's id): becomes each emitted event's correlation_id.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
