"""POST /courses/{course_id}/publish: draft → published (422 lists every problem); emits course.published."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import CourseOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-publish")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseOut, errors=(403, 404, 409),
       description="Publishing a published course is a no-op; an archived course cannot be published (409).")
def publish_course(course_id: uuid.UUID) -> CourseOut:
    return CourseOut.of(get_course_service().publish_course(principal(app), course_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
