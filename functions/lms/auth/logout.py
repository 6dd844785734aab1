"""POST /auth/logout: revoke the presented refresh token (the caller's own); 204."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, no_content, principal, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import LogoutRequest
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-logout")
app = make_resolver()


@route(app, FUNCTION, status_code=204, errors=(400,))
def logout(body: Annotated[LogoutRequest, Body()]) -> Response[None]:
    get_auth_service().logout(principal(app).user_id, body.refresh_token)
    return no_content()


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
