"""GET /analytics/courses/{course_id}: a course's figures over a period (``?from=&to=``, UTC days; staff)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import CourseAnalyticsResponse, PeriodFrom, PeriodTo

FUNCTION = function("analytics-course")
app = make_resolver()


@route(app, FUNCTION, response_model=CourseAnalyticsResponse, errors=(403, 404))
def course_analytics(course_id: uuid.UUID, period_from: PeriodFrom = None,
                     period_to: PeriodTo = None) -> CourseAnalyticsResponse:
    body = get_analytics().course(principal(app), course_id, period_from, period_to)
    return CourseAnalyticsResponse.model_validate(body)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
