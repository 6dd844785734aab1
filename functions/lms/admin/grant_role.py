"""POST /admin/users/{user_id}/roles/{role}: grant a role (idempotent)."""

import uuid
from typing import Any

from smartcourse.auth.domain import Role
from smartcourse.auth.schemas import RoleName, UserOut
from smartcourse.auth.service import get_auth_service
from smartcourse.catalogue import function
from smartcourse.http import make_resolver, principal, require_role, route

FUNCTION = function("lms-admin-grant-role")
app = make_resolver()


@route(app, FUNCTION, response_model=UserOut, errors=(403, 404))
def grant_role(user_id: uuid.UUID, role: RoleName) -> UserOut:
    caller = require_role(principal(app), Role.ADMIN)
    return UserOut.of(get_auth_service().grant_role(caller, user_id, Role(role)))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
