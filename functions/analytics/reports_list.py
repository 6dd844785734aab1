"""GET /analytics/reports: the caller's reports, newest first (a ready one with a fresh download_url)."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_reports
from smartcourse_analytics.report_schemas import ReportList

FUNCTION = function("analytics-reports-list")
app = make_resolver()


@route(app, FUNCTION, response_model=ReportList)
def list_reports(limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> ReportList:
    return get_reports().list_own(principal(app), limit, offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
