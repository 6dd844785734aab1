"""POST /auth/password/forgot: always 202, whether or not the account exists (no enumeration)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import ForgotPasswordRequest, MessageOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-password-forgot")
app = make_resolver()
ACCEPTED = "If an account exists for this email, a password reset link has been sent"


@route(app, FUNCTION, status_code=202, response_model=MessageOut, errors=(400,))
def password_forgot(body: Annotated[ForgotPasswordRequest, Body()]) -> MessageOut:
    get_auth_service().forgot_password(body.email)
    return MessageOut(detail=ACCEPTED)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
