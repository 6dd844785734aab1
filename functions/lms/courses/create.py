"""POST /courses: create a draft course (instructors; an admin may name the owning instructor)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import CourseCreateRequest, CourseOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-create")
app = make_resolver()


@route(app, FUNCTION, status_code=201, response_model=CourseOut, errors=(400, 403))
def create_course(body: Annotated[CourseCreateRequest, Body()]) -> CourseOut:
    return CourseOut.of(get_course_service().create_course(principal(app), body.model_dump()))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
