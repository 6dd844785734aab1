"""POST /courses/{course_id}/archive: draft or published → archived (idempotent); emits course.archived."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import CourseOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-archive")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseOut, errors=(403, 404))
def archive_course(course_id: uuid.UUID) -> CourseOut:
    return CourseOut.of(get_course_service().archive_course(principal(app), course_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
