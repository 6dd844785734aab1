"""POST /auth/refresh: rotate a refresh token; replaying a rotated one revokes its whole family."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import RefreshRequest, TokenOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-refresh")
app = make_resolver()


@route(app, FUNCTION, response_model=TokenOut, errors=(400, 401))
def refresh(body: Annotated[RefreshRequest, Body()]) -> TokenOut:
    pair = get_auth_service().refresh(body.refresh_token)
    return TokenOut(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
