"""DELETE /enrollments/{enrollment_id}: hard delete (admin only; learners drop instead)."""

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response
from smartcourse.http import make_resolver, no_content, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service

FUNCTION = function("lms-enrollments-delete")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(403, 404))
def delete_enrollment(enrollment_id: uuid.UUID) -> Response[None]:
    get_enrollment_service().delete_enrollment(principal(app), enrollment_id)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
