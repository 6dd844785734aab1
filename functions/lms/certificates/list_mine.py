"""GET /certificates/me: the caller's certificates, each with a presigned link to its document (paginated)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import MAX_OFFSET
from smartcourse_lms.enrollments.schemas import CertificateOut, CertificatePageOut
from smartcourse_lms.enrollments.service import get_enrollment_service

FUNCTION = function("lms-certificates-me")
app = make_resolver()


@route(app, FUNCTION, response_model=CertificatePageOut)
def list_my_certificates(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CertificatePageOut:
    service = get_enrollment_service()
    page = service.list_my_certificates(principal(app), limit=limit, offset=offset)
    return CertificatePageOut(items=[CertificateOut.of(c, service.certificate_url(c)) for c in page.items],
                              total=page.total, limit=page.limit, offset=page.offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
