"""GET /notifications/preferences: the caller's notification preferences (defaults until changed)."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_notification.catalogue import function
from smartcourse_notification.deferred import get_notification_service
from smartcourse_notification.schemas import PreferencesOut

FUNCTION = function("notification-get-preferences")
app = make_resolver()


@route(app, FUNCTION, response_model=PreferencesOut)
def get_my_preferences() -> PreferencesOut:
    return PreferencesOut.of(get_notification_service().preferences(principal(app)))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
