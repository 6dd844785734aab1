"""GET /analytics/platform: users, DAU/WAU/MAU, enrollments and completions per day, top courses (admins)."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import PeriodFrom, PeriodTo, PlatformResponse

FUNCTION = function("analytics-platform")
app = make_resolver()


@route(app, FUNCTION, response_model=PlatformResponse, errors=(403,))
def platform(period_from: PeriodFrom = None, period_to: PeriodTo = None) -> PlatformResponse:
    body = get_analytics().platform(principal(app), period_from, period_to)
    return PlatformResponse.model_validate(body)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
