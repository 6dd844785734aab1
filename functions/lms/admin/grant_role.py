"""POST /admin/users/{user_id}/roles/{role}: grant a role (idempotent)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, require_role, route
from smartcourse.observability import observed
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.schemas import UserOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-admin-grant-role")
app = make_resolver()


@route(app, FUNCTION, response_model=UserOut, errors=(403, 404))
def grant_role(user_id: uuid.UUID, role: Role) -> UserOut:
    caller = require_role(principal(app), Role.ADMIN)
    return UserOut.of(get_auth_service().grant_role(caller, user_id, role))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
