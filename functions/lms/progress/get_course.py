"""GET /progress/courses/{course_id}/enrollment/{enrollment_id}: course progress per module and asset."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import CourseProgressOut

FUNCTION = function("lms-progress-get-course")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseProgressOut, errors=(404,))
def get_course_progress(course_id: uuid.UUID, enrollment_id: uuid.UUID) -> CourseProgressOut:
    return CourseProgressOut.of(get_enrollment_service().get_course_progress(principal(app), course_id,
                                                                             enrollment_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
