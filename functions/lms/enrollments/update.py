"""PUT and PATCH /enrollments/{enrollment_id}: status change (learner: active ↔ dropped; admin: any)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import EnrollmentOut, EnrollmentUpdateRequest
from smartcourse_lms.learning.enrollments import EnrollmentStatus

FUNCTIONS = (function("lms-enrollments-put"), function("lms-enrollments-patch"))
app = make_resolver()


def update_enrollment(enrollment_id: uuid.UUID, body: Annotated[EnrollmentUpdateRequest, Body()]) -> EnrollmentOut:
    view = get_enrollment_service().change_status(principal(app), enrollment_id, EnrollmentStatus(body.status))
    return EnrollmentOut.of_view(view)


for _fn in FUNCTIONS:
    route(app, _fn, response_model=EnrollmentOut, errors=(403, 404, 409))(update_enrollment)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
