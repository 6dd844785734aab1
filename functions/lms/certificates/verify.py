"""GET /certificates/verify/{serial_no}: public check of a certificate serial; 404 for unknown serials."""

from typing import Any

from smartcourse.http import make_resolver, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import CertificateVerificationOut

FUNCTION = function("lms-certificates-verify")
app = make_resolver()


@route(app, FUNCTION, response_model=CertificateVerificationOut, errors=(404,))
def verify_certificate(serial_no: str) -> CertificateVerificationOut:
    c = get_enrollment_service().verify(serial_no)
    return CertificateVerificationOut(valid=True, serial_no=c.serial_no, learner_name=c.learner_name,
                                      course_title=c.course_title, issued_at=c.issued_at)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
