"""Who consumes what, the fast half: each consumer function's handler is built from its own declaration.

``KafkaTrigger.event_types`` in a service's catalogue is the one declaration of what a consumer handles; the
framework refuses, at import, a handler whose effects differ from it. Here: every declared consumer's module
imports (so its effects match), its entry point is the consumer built from that very entry, and no consumer
exists in a handler module that the catalogues do not declare. tests/integration/test_consumers_declared.py
feeds each one real events.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest
from smartcourse.catalogue import Function
from smartcourse.consumers import EventConsumer

from stacks.services import ALL_FUNCTIONS

# Consumers of event types (the archive takes every topic's records whatever their type, without EventConsumer).
CONSUMERS = [f for f in ALL_FUNCTIONS if f.kafka is not None and not f.kafka.every_topic]
HANDLER_PACKAGES = sorted({f.module.split(".", 1)[0] for f in ALL_FUNCTIONS})


def consumers_in(module: ModuleType) -> list[EventConsumer]:
    return [value for value in vars(module).values() if isinstance(value, EventConsumer)]


def test_there_are_consumers_to_check() -> None:
    assert {f.name for f in CONSUMERS} >= {"lms-consume-course-processing", "notification-consume-events"}


@pytest.mark.parametrize("fn", CONSUMERS, ids=lambda f: f.name)
def test_the_entry_point_is_the_consumer_of_its_declaration(fn: Function) -> None:
    module = importlib.import_module(fn.module)  # raises ConsumerDeclarationError on a mismatch

    [consumer] = consumers_in(module)
    assert consumer.function is fn
    assert getattr(module, fn.handler.rsplit(".", 1)[1]) is consumer.lambda_handler
    assert fn.kafka is not None and set(consumer.effects) == set(fn.kafka.event_types)


def test_no_handler_module_builds_an_undeclared_consumer() -> None:
    declared = {f.module: f for f in CONSUMERS}
    found: dict[str, list[EventConsumer]] = {}
    for package_name in HANDLER_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            module = importlib.import_module(info.name)
            if consumers := consumers_in(module):
                found[info.name] = consumers
    assert set(found) == set(declared)
    for module_name, consumers in found.items():
        assert [c.function for c in consumers] == [declared[module_name]], module_name
    names = [c.name for cs in found.values() for c in cs]
    assert len(names) == len(set(names)), "two consumers share a processed_events name"


def test_a_consumer_of_every_topic_declares_no_types_and_reads_every_topic() -> None:
    from smartcourse.catalogue import KafkaTrigger
    from smartcourse_events.topics import ALL_TOPICS

    archive = [f for f in ALL_FUNCTIONS if f.kafka is not None and f.kafka.every_topic]
    assert [f.name for f in archive] == ["analytics-archive-events"]
    assert archive[0].kafka is not None and set(archive[0].kafka.topics) == set(ALL_TOPICS)
    with pytest.raises(ValueError, match="declares no event types"):
        KafkaTrigger(event_types=("user.registered",), every_topic=True)
