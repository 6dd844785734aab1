"""PUT /notifications/preferences: change the caller's preferences (fields left out keep their value)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_notification.catalogue import function
from smartcourse_notification.deferred import get_notification_service
from smartcourse_notification.schemas import PreferencesOut, PreferencesUpdate

FUNCTION = function("notification-update-preferences")
app = make_resolver()


@route(app, FUNCTION, response_model=PreferencesOut, errors=(400,))
def update_my_preferences(body: Annotated[PreferencesUpdate, Body()]) -> PreferencesOut:
    return PreferencesOut.of(get_notification_service().update_preferences(principal(app), body.changes()))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
