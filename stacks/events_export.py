"""``python -m stacks.events_export [--check] [--out docs/events]``: the event JSON Schemas and their index.

The contracts come from ``events/``; the consumers column of each event type is derived from the consumer
functions' declarations (``KafkaTrigger.event_types``, via :func:`stacks.services.consumers_of`), the one
source of who consumes what. A test keeps docs/events/ fresh (``make events`` rewrites it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from smartcourse_events.export import main as export_main
from smartcourse_events.registry import REGISTRY

from stacks.services import consumers_of


def declared_consumers() -> dict[str, list[str]]:
    """Event type → the services whose consumer functions declare it (every registered type)."""
    return {event_type: [str(service) for service in consumers_of(event_type)]
            for event_type in sorted({event_type for event_type, _version in REGISTRY})}


def main(argv: Sequence[str] | None = None) -> int:
    return export_main(argv, consumers=declared_consumers())


if __name__ == "__main__":
    sys.exit(main())
