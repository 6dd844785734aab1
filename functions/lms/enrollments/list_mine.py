"""GET /enrollments/me: the caller's enrollments with course title and progress percent (paginated)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import MAX_OFFSET
from smartcourse_lms.enrollments.schemas import EnrollmentOut, EnrollmentPageOut, EnrollmentStatusName
from smartcourse_lms.enrollments.service import get_enrollment_service

FUNCTION = function("lms-enrollments-me")
app = make_resolver()


@route(app, FUNCTION, response_model=EnrollmentPageOut)
def list_my_enrollments(
    status: Annotated[EnrollmentStatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> EnrollmentPageOut:
    page = get_enrollment_service().list_mine(principal(app), status=status, limit=limit, offset=offset)
    return EnrollmentPageOut(items=[EnrollmentOut.of_view(v) for v in page.items], total=page.total,
                             limit=page.limit, offset=page.offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
