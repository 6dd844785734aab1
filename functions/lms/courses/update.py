"""PUT and PATCH /courses/{course_id}: partial update by course staff (two functions, this one module).

``status`` is not writable here (422); lowering ``max_students`` below the active enrollments is 409.
"""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import CourseOut, CourseUpdateRequest
from smartcourse_lms.deferred import get_course_service

FUNCTIONS = (function("lms-courses-put"), function("lms-courses-patch"))
app = make_resolver()


def update_course(course_id: uuid.UUID, body: Annotated[CourseUpdateRequest, Body()]) -> CourseOut:
    return CourseOut.of(get_course_service().update_course(principal(app), course_id, body.changes()))


for _fn in FUNCTIONS:
    route(app, _fn, response_model=CourseOut, errors=(400, 403, 404, 409))(update_course)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
