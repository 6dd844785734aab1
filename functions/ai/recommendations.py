"""GET /ai/recommendations/me: published courses the caller is not enrolled in, ranked, each with a reason."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import Recommendation, RecommendationsResponse

FUNCTION = function("ai-recommendations")
app = make_resolver()


@route(app, FUNCTION, response_model=RecommendationsResponse)
def my_recommendations() -> RecommendationsResponse:
    items = get_course_ai().recommendations(principal(app))
    return RecommendationsResponse(items=[Recommendation(**item) for item in items])


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
