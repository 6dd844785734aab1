"""GET /admin/users: users filtered by role, status and a text match on email/name; paginated."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, require_role, route
from smartcourse.observability import observed
from smartcourse.pagination import DEFAULT_LIMIT, Limit, Offset
from smartcourse_lms.auth.domain import Role, UserStatus
from smartcourse_lms.auth.schemas import UserOut, UserPageOut
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_auth_service

FUNCTION = function("lms-admin-list-users")
app = make_resolver()


@route(app, FUNCTION, response_model=UserPageOut, errors=(403,))
def list_users(
    role: Annotated[Role | None, Query()] = None,
    status: Annotated[UserStatus | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> UserPageOut:
    caller = require_role(principal(app), Role.ADMIN)
    page = get_auth_service().list_users(caller, role=role, status=status, q=q, limit=limit, offset=offset)
    return UserPageOut(items=[UserOut.of(u) for u in page.items], total=page.total, limit=page.limit,
                       offset=page.offset)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
