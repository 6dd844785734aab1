"""POST /enrollments: enroll the caller (or, for course staff / admins, ``user_id``); 201 new, 200 existing."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import json_response, make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import EnrollmentOut, EnrollRequest
from smartcourse_lms.learning.enrollments import PrerequisitesMissing

FUNCTION = function("lms-enrollments-create")
app = make_resolver()


@app.exception_handler(PrerequisitesMissing)
def _prerequisites_missing(error: PrerequisitesMissing) -> Response:
    return json_response(422, error.body())


@route(app, FUNCTION, status_code=201, response_model=EnrollmentOut, errors=(403, 404, 409),
       description="422 when prerequisites are missing: `{error, missing_prerequisites: [{id, title}], message}`.")
def enroll(body: Annotated[EnrollRequest, Body()]) -> Response[Any]:
    result = get_enrollment_service().enroll(principal(app), body.model_dump())
    return json_response(201 if result.created else 200, EnrollmentOut.of(result.enrollment).model_dump(mode="json"))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
