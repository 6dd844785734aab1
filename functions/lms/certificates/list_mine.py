"""GET /certificates/me: the caller's certificates, each with a presigned link to its document (paginated)."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import CertificateOut, CertificatePageOut

FUNCTION = function("lms-certificates-me")
app = make_resolver()


@route(app, FUNCTION, response_model=CertificatePageOut)
def list_my_certificates(
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> CertificatePageOut:
    service = get_enrollment_service()
    page = service.list_my_certificates(principal(app), limit=limit, offset=offset)
    return CertificatePageOut(items=[CertificateOut.of(c, service.certificate_url(c)) for c in page.items],
                              total=page.total, limit=page.limit, offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
