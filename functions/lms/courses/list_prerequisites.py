"""GET /courses/{course_id}/prerequisites: the prerequisite courses (readers of the course; paginated)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, optional_principal, route
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import MAX_OFFSET, CourseOut, CoursePageOut
from smartcourse_lms.courses.service import get_course_service

FUNCTION = function("lms-courses-list-prerequisites")
app = make_resolver()


@route(app, FUNCTION, response_model=CoursePageOut, errors=(404,))
def list_prerequisites(
    course_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CoursePageOut:
    page = get_course_service().list_prerequisites(optional_principal(app), course_id, limit=limit, offset=offset)
    return CoursePageOut(items=[CourseOut.of(c) for c in page.items], total=page.total, limit=page.limit,
                         offset=page.offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
