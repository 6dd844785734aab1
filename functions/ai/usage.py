"""GET /ai/usage: AI usage per user, course, feature and model in a period, with estimated cost (admin)."""

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import UsageResponse, UsageRow

FUNCTION = function("ai-usage")
app = make_resolver()


@route(app, FUNCTION, response_model=UsageResponse, errors=(403,))
def usage_report(
    period_from: Annotated[datetime | None, Query(alias="from", description="default: this month's start")] = None,
    period_to: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> UsageResponse:
    report = get_course_ai().usage_report(principal(app), period_from, period_to)
    return UsageResponse(period_from=report["period_from"], period_to=report["period_to"],
                         rows=[UsageRow(**r) for r in report["rows"]], totals=report["totals"])


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
