"""A unit of work: one connection, one transaction, and the events that describe its changes.

Events collected during the unit are written to the ``outbox`` table inside
the same transaction at ``commit()``: either the change and its events are
both durable, or neither is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert

from smartcourse import context
from smartcourse.db.messaging import OUTBOX
from smartcourse.deferred import defer_call

if TYPE_CHECKING:
    from smartcourse_events.base import EventPayload
    from smartcourse_events.envelope import EventEnvelope


class UnitOfWork:
    def __init__(self, engine: Engine, producer: str = "lms") -> None:
        self._engine = engine
        self._producer = producer
        self._connection: Connection | None = None
        self._events: list[EventEnvelope] = []
        self._wrote_outbox = False

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work not started (use it as a context manager)")
        return self._connection

    def __enter__(self) -> UnitOfWork:
        self._connection = self._engine.connect()
        self._connection.begin()
        self._events = []
        self._wrote_outbox = False
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Whatever was not committed explicitly is rolled back, on success and on error alike.
        try:
            self.rollback()
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def emit(self, payload: EventPayload | Mapping[str, Any], *, event_type: str | None = None,
             aggregate_id: uuid.UUID | str | None = None, occurred_at: datetime | None = None) -> EventEnvelope:
        """Validate an event now (a bad one fails the use case) and queue it for the outbox."""
        from smartcourse_events.registry import build_event

        envelope = build_event(payload, event_type=event_type, aggregate_id=aggregate_id,
                               producer=self._producer, correlation_id=context.correlation_id.get(),
                               occurred_at=occurred_at)
        self._events.append(envelope)
        return envelope

    @property
    def pending_events(self) -> tuple[EventEnvelope, ...]:
        return tuple(self._events)

    def flush_events(self) -> None:
        if not self._events:
            return
        from smartcourse_events.registry import topic_for

        rows = [
            {
                "event_id": e.event_id,
                "topic": topic_for(e.event_type, e.event_version),
                "key": e.key,
                "aggregate_type": e.aggregate_type,
                "aggregate_id": e.aggregate_id,
                "event_type": e.event_type,
                "event_version": e.event_version,
                "envelope": e.to_json_dict(),
            }
            for e in self._events
        ]
        self.connection.execute(insert(OUTBOX), rows)
        self._events = []
        self._wrote_outbox = True

    def commit(self) -> None:
        self.flush_events()
        self.connection.commit()
        wrote_outbox, self._wrote_outbox = self._wrote_outbox, False
        # Keep the unit usable: a use case may commit (e.g. a recorded login failure) and go on.
        self.connection.begin()
        if wrote_outbox:
            self._nudge_publisher()

    @staticmethod
    def _nudge_publisher() -> None:
        """Ask the outbox publisher to drain now (best effort; its schedule is the backstop)."""
        from smartcourse.settings import get_settings

        function_name = get_settings().outbox_publisher_function
        if function_name:
            from smartcourse.outbox.nudge import nudge

            nudge(function_name)

    def rollback(self) -> None:
        self._events = []
        self._wrote_outbox = False
        if self._connection is not None and self._connection.in_transaction():
            self._connection.rollback()


def _prepare_nudge() -> None:
    from smartcourse.outbox.nudge import prepare

    prepare()


# Functions that write events build their nudge client on the first nudge, or before a SnapStart snapshot
# (``smartcourse.deferred.prime``), never in init: botocore alone would cost a cold start ~200 ms.
defer_call(_prepare_nudge)


def unit_of_work_factory(engine: Engine | Callable[[], Engine], producer: str = "lms") -> Callable[[], UnitOfWork]:
    """A factory binding the engine lazily (the engine is built on the first request, not at import)."""

    def make() -> UnitOfWork:
        return UnitOfWork(engine if isinstance(engine, Engine) else engine(), producer)

    return make
