"""GET /enrollments/{enrollment_id}: an enrollment (its learner or course staff; 404 otherwise)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import EnrollmentOut

FUNCTION = function("lms-enrollments-get")
app = make_resolver()


@route(app, FUNCTION, response_model=EnrollmentOut, errors=(404,))
def get_enrollment(enrollment_id: uuid.UUID) -> EnrollmentOut:
    return EnrollmentOut.of_view(get_enrollment_service().get_enrollment(principal(app), enrollment_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
