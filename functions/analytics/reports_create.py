"""POST /analytics/reports: request a course, instructor or platform report; 202, built from the report queue."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_reports
from smartcourse_analytics.report_schemas import ReportAccepted, ReportRequest

FUNCTION = function("analytics-reports-create")
app = make_resolver()


@route(app, FUNCTION, status_code=HTTPStatus.ACCEPTED, response_model=ReportAccepted, errors=(403, 404, 503))
def request_report(body: Annotated[ReportRequest, Body()]) -> ReportAccepted:
    return get_reports().request(principal(app), body)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
