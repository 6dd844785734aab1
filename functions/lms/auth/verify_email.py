"""POST /auth/verify-email: spend a verification token (single use, 24 h); 400 when bad or expired."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import UserOut, VerifyEmailRequest
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-verify-email")
app = make_resolver()


@route(app, FUNCTION, response_model=UserOut, errors=(400,))
def verify_email(body: Annotated[VerifyEmailRequest, Body()]) -> UserOut:
    return UserOut.of(get_auth_service().verify_email(body.token))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
