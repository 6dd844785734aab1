"""POST /notifications/{notification_id}/read: mark one of the caller's notifications read (204; 404 otherwise)."""

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response
from smartcourse.http import make_resolver, no_content, principal, route
from smartcourse.observability import observed
from smartcourse_notification.catalogue import function
from smartcourse_notification.deferred import get_notification_service

FUNCTION = function("notification-mark-read")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(404,))
def mark_notification_read(notification_id: uuid.UUID) -> Response[None]:
    get_notification_service().mark_read(principal(app), notification_id)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
