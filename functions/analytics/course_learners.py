"""GET /analytics/courses/{course_id}/learners: the course's learners, one page at a time, and its averages."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import CourseLearnersResponse

FUNCTION = function("analytics-course-learners")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseLearnersResponse, errors=(403, 404))
def course_learners(course_id: uuid.UUID, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> CourseLearnersResponse:
    body = get_analytics().course_learners(principal(app), course_id, limit, offset)
    return CourseLearnersResponse.model_validate(body)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
