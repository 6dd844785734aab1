"""GET /notifications/me: the caller's in-app notifications, newest first (``?unread=true``; paginated)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_notification.catalogue import function
from smartcourse_notification.deferred import get_notification_service
from smartcourse_notification.schemas import NotificationOut, NotificationPageOut

FUNCTION = function("notification-list-mine")
app = make_resolver()


@route(app, FUNCTION, response_model=NotificationPageOut)
def list_my_notifications(
    unread: Annotated[bool, Query(description="only notifications not read yet")] = False,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> NotificationPageOut:
    page = get_notification_service().feed(principal(app), unread_only=unread, limit=limit, offset=offset)
    return NotificationPageOut(items=[NotificationOut.of(n) for n in page.items], total=page.total,
                               limit=page.limit, offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
