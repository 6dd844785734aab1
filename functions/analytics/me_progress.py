"""GET /analytics/me/progress: the caller's own courses, time, streak and (in cohorts of ≥ 10) percentiles."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import LearnerProgressResponse

FUNCTION = function("analytics-me-progress")
app = make_resolver()


@route(app, FUNCTION, response_model=LearnerProgressResponse)
def my_progress() -> LearnerProgressResponse:
    return LearnerProgressResponse.model_validate(get_analytics().my_progress(principal(app)))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
