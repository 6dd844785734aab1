"""GET /admin/users: users filtered by role, status and a text match on email/name; paginated."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, require_role, route
from smartcourse_lms.auth.domain import Role, UserStatus
from smartcourse_lms.auth.schemas import RoleName, StatusName, UserOut, UserPageOut
from smartcourse_lms.auth.service import get_auth_service
from smartcourse_lms.catalogue import function

FUNCTION = function("lms-admin-list-users")
app = make_resolver()


@route(app, FUNCTION, response_model=UserPageOut, errors=(403,))
def list_users(
    role: Annotated[RoleName | None, Query()] = None,
    status: Annotated[StatusName | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPageOut:
    caller = require_role(principal(app), Role.ADMIN)
    page = get_auth_service().list_users(caller, role=Role(role) if role else None,
                                         status=UserStatus(status) if status else None,
                                         q=q, limit=limit, offset=offset)
    return UserPageOut(items=[UserOut.of(u) for u in page.items], total=page.total, limit=page.limit,
                       offset=page.offset)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
