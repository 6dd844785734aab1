"""POST /auth/password/reset: set a new password with a reset token (single use, 1 h); revokes every session."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, no_content, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import ResetPasswordRequest
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-password-reset")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(400,))
def password_reset(body: Annotated[ResetPasswordRequest, Body()]) -> Response[None]:
    get_auth_service().reset_password(body.token, body.new_password)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
