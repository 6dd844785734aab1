"""GET /analytics/reports/{report_id}: one of the caller's reports (someone else's is a 404)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_reports
from smartcourse_analytics.report_schemas import ReportView

FUNCTION = function("analytics-reports-get")
app = make_resolver()


@route(app, FUNCTION, response_model=ReportView, errors=(404,))
def get_report(report_id: uuid.UUID) -> ReportView:
    return get_reports().get(principal(app), report_id)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
