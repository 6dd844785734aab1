"""GET /analytics/instructors/me: the headline figures of each of the caller's courses (instructors, admins)."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import InstructorOverviewResponse

FUNCTION = function("analytics-instructor-overview")
app = make_resolver()


@route(app, FUNCTION, response_model=InstructorOverviewResponse, errors=(403,))
def instructor_overview() -> InstructorOverviewResponse:
    return InstructorOverviewResponse.model_validate(get_analytics().instructor_overview(principal(app)))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
