"""GET /analytics/courses/{course_id}/at-risk: learners at risk, the reasons that flagged them, their nudges."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import AtRiskResponse

FUNCTION = function("analytics-at-risk")
app = make_resolver()


@route(app, FUNCTION, response_model=AtRiskResponse, errors=(403, 404))
def at_risk(course_id: uuid.UUID) -> AtRiskResponse:
    return AtRiskResponse.model_validate(get_analytics().at_risk(principal(app), course_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
