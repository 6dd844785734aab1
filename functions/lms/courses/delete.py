"""DELETE /courses/{course_id}: only a course that never had an enrollment (204); otherwise 409."""

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response
from smartcourse.http import make_resolver, no_content, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-delete")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(403, 404, 409))
def delete_course(course_id: uuid.UUID) -> Response[None]:
    get_course_service().delete_course(principal(app), course_id)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
