"""Every service of the app and its catalogue: what the stacks build, the tools export and the tests walk.

The one module that sees every service's declarations at once. It is imported by the CDK app, the local
cloud's tools and the tests, never by a Lambda function (a function sees its own service only).
"""

from __future__ import annotations

from smartcourse.catalogue import PLATFORM_FUNCTIONS, Function, Service, ServiceCatalogue
from smartcourse_ai.catalogue import CATALOGUE as AI
from smartcourse_analytics.catalogue import CATALOGUE as ANALYTICS
from smartcourse_lms.catalogue import CATALOGUE as LMS
from smartcourse_notification.catalogue import CATALOGUE as NOTIFICATION

CATALOGUES: dict[Service, ServiceCatalogue] = {c.service: c for c in (LMS, NOTIFICATION, AI, ANALYTICS)}
# Services with a REST API of their own (the notification service's routes are on the LMS API).
APIS: tuple[Service, ...] = (Service.LMS, Service.AI, Service.ANALYTICS)

ALL_FUNCTIONS: tuple[Function, ...] = (*PLATFORM_FUNCTIONS, *(f for c in CATALOGUES.values() for f in c.functions))
_BY_NAME = {f.name: f for f in ALL_FUNCTIONS}
if len(_BY_NAME) != len(ALL_FUNCTIONS):  # pragma: no cover - a catalogue edit reused a name
    raise RuntimeError("two functions share a name")


def function(name: str) -> Function:
    return _BY_NAME[name]


def api_functions(api: Service) -> tuple[Function, ...]:
    """Every function whose routes ``api``'s REST API serves, whichever service owns it."""
    return tuple(f for f in ALL_FUNCTIONS if f.routes and f.api_service is api)


def consumers_of(event_type: str) -> tuple[Service, ...]:
    """The services with a consumer function declaring ``event_type`` (the event docs' consumers column)."""
    return tuple(sorted({f.service for f in ALL_FUNCTIONS if f.kafka and event_type in f.kafka.event_types}))


def outbox_publisher(service: Service) -> Function | None:
    catalogue = CATALOGUES.get(service)
    return catalogue.outbox_publisher if catalogue else None
