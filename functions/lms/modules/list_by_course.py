"""GET /modules/by-course/{course_id}: the course's modules ordered by order_index (readers; paginated)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, optional_principal, route
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import MAX_OFFSET, ModuleOut, ModulePageOut
from smartcourse_lms.courses.service import get_course_service

FUNCTION = function("lms-modules-list-by-course")
app = make_resolver()


@route(app, FUNCTION, response_model=ModulePageOut, errors=(404,))
def list_modules(
    course_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ModulePageOut:
    page = get_course_service().list_modules(optional_principal(app), course_id, limit=limit, offset=offset)
    return ModulePageOut(items=[ModuleOut.of(m) for m in page.items], total=page.total, limit=page.limit,
                         offset=page.offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
