"""GET /certificates/{certificate_id}: a certificate with a presigned link to its document (learner, course staff)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import CertificateOut

FUNCTION = function("lms-certificates-get")
app = make_resolver()


@route(app, FUNCTION, response_model=CertificateOut, errors=(404,))
def get_certificate(certificate_id: uuid.UUID) -> CertificateOut:
    service = get_enrollment_service()
    certificate = service.get_certificate(principal(app), certificate_id)
    return CertificateOut.of(certificate, service.certificate_url(certificate))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
