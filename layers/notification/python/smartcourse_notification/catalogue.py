"""The notification service's functions: its routes (served by the LMS API, as the spec says), the consumer
that turns events into sends, and the sender. One declaration each (``smartcourse.catalogue`` types).
"""

from __future__ import annotations

from smartcourse.catalogue import Function, Grant, HttpRoute, KafkaTrigger, Service, ServiceCatalogue, SqsTrigger

_DB = frozenset({Grant.DATABASE})

SEND_QUEUE = "notification-sends"


def _notification_api(name: str, method: str, path: str, description: str, *,
                      grants: frozenset[Grant] = _DB) -> Function:
    return Function(
        name=f"notification-{name}",
        service=Service.NOTIFICATION,
        handler=f"notification.{name.replace('-', '_')}.handler",
        description=description,
        routes=(HttpRoute(method, f"/api/v1/notifications{path}"),),
        grants=grants,
        api=Service.LMS,
    )


API_FUNCTIONS: tuple[Function, ...] = (
    _notification_api("list-mine", "GET", "/me", "The caller's in-app notifications, newest first (?unread=true)"),
    _notification_api("mark-read", "POST", "/{notification_id}/read", "Mark one of the caller's notifications read"),
    _notification_api("get-preferences", "GET", "/preferences", "The caller's notification preferences"),
    _notification_api("update-preferences", "PUT", "/preferences", "Replace the caller's notification preferences"),
    _notification_api("list-templates", "GET", "/templates", "Templates, their channels and variables (admin)",
                      grants=frozenset()),
    _notification_api("preview-template", "POST", "/templates/{name}/preview",
                      "Render a template with a sample context (admin)", grants=frozenset()),
)

EVENT_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="notification-consume-events",
        service=Service.NOTIFICATION,
        handler="notification.consume_events.handler",
        description="Turns user, course, enrollment, certificate, nudge and report events into sends (email, SMS, "
                    "in-app)",
        kafka=KafkaTrigger(event_types=(
            "user.registered", "user.password_reset_requested", "course.published", "course.processing_completed",
            "course.processing_failed", "enrollment.created", "certificate.issued", "learner.nudge_requested",
            "report.ready",
        )),
        grants=frozenset({Grant.DATABASE, Grant.NOTIFICATION_QUEUE}),
        timeout_seconds=60,
    ),
    Function(
        name="notification-send",
        service=Service.NOTIFICATION,
        handler="notification.send.handler",
        description="Delivers queued sends through SES (email) and SNS (SMS); partial batch responses",
        sqs=SqsTrigger(queue=SEND_QUEUE, batch_size=10),
        grants=frozenset({Grant.DATABASE, Grant.EMAIL, Grant.SMS, Grant.ISSUE_ONE_TIME_TOKEN}),
        # Room for a batch: a record is only started with its worst case (~29 s, sender.RECORD_WORST_CASE_MS) left.
        timeout_seconds=90,
    ),
)

CATALOGUE = ServiceCatalogue(Service.NOTIFICATION, (*API_FUNCTIONS, *EVENT_FUNCTIONS))
function = CATALOGUE.function
