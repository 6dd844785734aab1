"""GET /courses/{course_id}: a published course for anyone, a draft or archived one for its staff only (else 404)."""

import uuid
from typing import Any

from smartcourse.catalogue import function
from smartcourse.courses.schemas import CourseOut
from smartcourse.courses.service import get_course_service
from smartcourse.http import make_resolver, optional_principal, route

FUNCTION = function("lms-courses-get")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseOut, errors=(404,))
def get_course(course_id: uuid.UUID) -> CourseOut:
    return CourseOut.of(get_course_service().get_course(optional_principal(app), course_id))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
