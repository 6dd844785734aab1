"""DELETE /modules/{module_id}: delete a module and its assets (staff); 409 on a published, enrolled course."""

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response
from smartcourse.http import make_resolver, no_content, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-modules-delete")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(403, 404, 409))
def delete_module(module_id: uuid.UUID) -> Response[None]:
    get_course_service().delete_module(principal(app), module_id)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
