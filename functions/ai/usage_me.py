"""GET /ai/usage/me: the caller's AI usage this month and what is left of the quota."""

from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import UsageMeResponse

FUNCTION = function("ai-usage-me")
app = make_resolver()


@route(app, FUNCTION, response_model=UsageMeResponse)
def my_usage() -> UsageMeResponse:
    return UsageMeResponse(**get_course_ai().usage_me(principal(app)))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
