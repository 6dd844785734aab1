"""GET /notifications/templates: every template with its category, channels and required variables (admin)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse_lms.courses.schemas import MAX_OFFSET
from smartcourse_notification.catalogue import function
from smartcourse_notification.schemas import TemplateOut, TemplatePageOut
from smartcourse_notification.service import list_templates

FUNCTION = function("notification-list-templates")
app = make_resolver()


@route(app, FUNCTION, response_model=TemplatePageOut, errors=(403,))
def list_notification_templates(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TemplatePageOut:
    specs = list_templates(principal(app))
    return TemplatePageOut(items=[TemplateOut.of(s) for s in specs[offset:offset + limit]], total=len(specs),
                           limit=limit, offset=offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
