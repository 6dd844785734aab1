"""A service's catalogue: its own functions only, each name once; consumers derive their topics from event types."""

from __future__ import annotations

import pytest
from smartcourse.catalogue import Function, KafkaTrigger, Service, ServiceCatalogue, health_function
from smartcourse_events.topics import COURSE_EVENTS, ENROLLMENT_EVENTS


def test_a_catalogue_refuses_a_name_twice_and_another_services_function() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        ServiceCatalogue(Service.AI, (health_function(Service.AI), health_function(Service.AI)))
    with pytest.raises(ValueError, match="functions of another service"):
        ServiceCatalogue(Service.AI, (health_function(Service.ANALYTICS),))
    catalogue = ServiceCatalogue(Service.AI, (health_function(Service.AI),))
    assert catalogue.function("ai-health").service is Service.AI
    with pytest.raises(KeyError):
        catalogue.function("ai-nothing")


def test_a_consumers_topics_are_those_of_its_event_types() -> None:
    trigger = KafkaTrigger(event_types=("certificate.issued", "course.published", "enrollment.created"))
    assert trigger.topics == tuple(sorted({COURSE_EVENTS, ENROLLMENT_EVENTS}))
    consumer = Function(name="ai-consume", service=Service.AI, handler="ai.consume.handler", description="x",
                        kafka=trigger)
    assert ServiceCatalogue(Service.AI, (consumer,)).consumers == (consumer,)
