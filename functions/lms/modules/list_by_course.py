"""GET /modules/by-course/{course_id}: the course's modules ordered by order_index (readers; paginated)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import ModuleOut, ModulePageOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-modules-list-by-course")
app = make_resolver()


@route(app, FUNCTION, response_model=ModulePageOut, errors=(404,))
def list_modules(
    course_id: uuid.UUID,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> ModulePageOut:
    page = get_course_service().list_modules(optional_principal(app), course_id, limit=limit, offset=offset)
    return ModulePageOut(items=[ModuleOut.of(m) for m in page.items], total=page.total, limit=page.limit,
                         offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
