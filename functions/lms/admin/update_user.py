"""PATCH /admin/users/{user_id}: block/unblock (blocking revokes refresh tokens) or rename a user."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, require_role, route
from smartcourse.observability import observed
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.schemas import UserOut, UserUpdateRequest
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-admin-update-user")
app = make_resolver()


@route(app, FUNCTION, response_model=UserOut, errors=(400, 403, 404, 409))
def update_user(user_id: uuid.UUID, body: Annotated[UserUpdateRequest, Body()]) -> UserOut:
    caller = require_role(principal(app), Role.ADMIN)
    user = get_auth_service().update_user(caller, user_id, body.model_dump(exclude_unset=True))
    return UserOut.of(user)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
