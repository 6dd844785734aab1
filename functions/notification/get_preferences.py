"""GET /notifications/preferences: the caller's notification preferences (defaults until changed)."""

from typing import Any

from smartcourse.catalogue import function
from smartcourse.http import make_resolver, principal, route
from smartcourse.notifications.schemas import PreferencesOut
from smartcourse.notifications.service import get_notification_service

FUNCTION = function("notification-get-preferences")
app = make_resolver()


@route(app, FUNCTION, response_model=PreferencesOut)
def get_my_preferences() -> PreferencesOut:
    return PreferencesOut.of(get_notification_service().preferences(principal(app)))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
