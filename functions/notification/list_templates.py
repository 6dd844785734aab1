"""GET /notifications/templates: every template with its category, channels and required variables (admin)."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_notification.catalogue import function
from smartcourse_notification.deferred import list_templates
from smartcourse_notification.schemas import TemplateOut, TemplatePageOut

FUNCTION = function("notification-list-templates")
app = make_resolver()


@route(app, FUNCTION, response_model=TemplatePageOut, errors=(403,))
def list_notification_templates(
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> TemplatePageOut:
    specs = list_templates(principal(app))
    return TemplatePageOut(items=[TemplateOut.of(s) for s in specs[offset:offset + limit]], total=len(specs),
                           limit=limit, offset=offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
