"""GET /auth/me: the caller's profile."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.auth.schemas import UserOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-auth-me")
app = make_resolver()


@route(app, FUNCTION, response_model=UserOut, errors=(404,))
def me() -> UserOut:
    return UserOut.of(get_auth_service().me(principal(app).user_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
