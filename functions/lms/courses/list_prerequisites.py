"""GET /courses/{course_id}/prerequisites: the prerequisite courses (readers of the course; paginated)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import CourseOut, CoursePageOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-courses-list-prerequisites")
app = make_resolver()


@route(app, FUNCTION, response_model=CoursePageOut, errors=(404,))
def list_prerequisites(
    course_id: uuid.UUID,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CoursePageOut:
    page = get_course_service().list_prerequisites(optional_principal(app), course_id, limit=limit, offset=offset)
    return CoursePageOut(items=[CourseOut.of(c) for c in page.items], total=page.total, limit=page.limit,
                         offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
