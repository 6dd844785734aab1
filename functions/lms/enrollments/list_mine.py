"""GET /enrollments/me: the caller's enrollments with course title and progress percent (paginated)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import EnrollmentOut, EnrollmentPageOut
from smartcourse_lms.learning.enrollments import EnrollmentStatus

FUNCTION = function("lms-enrollments-me")
app = make_resolver()


@route(app, FUNCTION, response_model=EnrollmentPageOut)
def list_my_enrollments(
    status: Annotated[EnrollmentStatus | None, Query()] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> EnrollmentPageOut:
    page = get_enrollment_service().list_mine(principal(app), status=status, limit=limit, offset=offset)
    return EnrollmentPageOut(items=[EnrollmentOut.of_view(v) for v in page.items], total=page.total,
                             limit=page.limit, offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
