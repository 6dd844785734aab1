"""GET /courses: published courses, newest first, with text search and filters; staff may ask for ?status=."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import (
    CATEGORY_MAX_LENGTH,
    CourseOut,
    CoursePageOut,
)
from smartcourse_lms.deferred import get_course_service
from smartcourse_lms.learning.courses import CourseStatus, Level

FUNCTION = function("lms-courses-list")
app = make_resolver()


@route(app, FUNCTION, response_model=CoursePageOut)
def list_courses(
    q: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=CATEGORY_MAX_LENGTH)] = None,
    level: Annotated[Level | None, Query()] = None,
    instructor_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[CourseStatus | None, Query()] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CoursePageOut:
    page = get_course_service().list_courses(optional_principal(app), status=status, q=q, category=category,
                                             level=level, instructor_id=instructor_id, limit=limit, offset=offset)
    return CoursePageOut(items=[CourseOut.of(c) for c in page.items], total=page.total, limit=page.limit,
                         offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
