"""POST /auth/register: a new student or instructor account (never admin); mails a verification link."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import RegisterRequest, UserOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-register")
app = make_resolver()


@route(app, FUNCTION, status_code=201, response_model=UserOut, errors=(400, 409))
def register(body: Annotated[RegisterRequest, Body()]) -> UserOut:
    registration = get_auth_service().register(body.email, body.password, body.full_name, body.role)
    return UserOut.of(registration.user)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
