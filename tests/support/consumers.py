"""Catalogue entries for consumers that exist only in tests (the framework builds every consumer from one)."""

from __future__ import annotations

from collections.abc import Iterable

from smartcourse.catalogue import Function, KafkaTrigger, Service


def consumer_function(event_types: Iterable[str], name: str = "test-consumer") -> Function:
    """A Kafka consumer function declaring ``event_types`` (pass the test consumer's effects to match them)."""
    return Function(name=name, service=Service.PLATFORM, handler="tests.consumer.handler",
                    description="A consumer built by a test", kafka=KafkaTrigger(event_types=tuple(event_types)))
