"""GET /courses/{course_id}: a published course for anyone, a draft or archived one for its staff only (else 404)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import CourseOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-get")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseOut, errors=(404,))
def get_course(course_id: uuid.UUID) -> CourseOut:
    return CourseOut.of(get_course_service().get_course(optional_principal(app), course_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
