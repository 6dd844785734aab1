"""DELETE /courses/{course_id}/prerequisites/{prerequisite_id}: idempotent 204."""

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response
from smartcourse.http import make_resolver, no_content, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-remove-prerequisite")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(403, 404))
def remove_prerequisite(course_id: uuid.UUID, prerequisite_id: uuid.UUID) -> Response[None]:
    get_course_service().remove_prerequisite(principal(app), course_id, prerequisite_id)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
