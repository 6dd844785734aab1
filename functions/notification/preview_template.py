"""POST /notifications/templates/{name}/preview: render a template with a given or sample context (admin)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_notification.catalogue import function
from smartcourse_notification.deferred import preview_template
from smartcourse_notification.schemas import PreviewOut, PreviewRequest

FUNCTION = function("notification-preview-template")
app = make_resolver()


@route(app, FUNCTION, response_model=PreviewOut, errors=(400, 403, 404))
def preview_notification_template(name: str, body: Annotated[PreviewRequest | None, Body()] = None) -> PreviewOut:
    context = body.context if body is not None else None
    return PreviewOut.of(name, preview_template(principal(app), name, context))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
