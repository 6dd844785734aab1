"""A scheduled function: records the event it got."""

from __future__ import annotations

from typing import Any

from common import record


def handler(event: dict[str, Any], context: Any) -> None:
    record("scheduled_events", event)
