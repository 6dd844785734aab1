"""GET, PUT and PATCH /ai/courses/{course_id}/settings: the course's AI switches (three functions, one module).

PUT and PATCH both change only the switches the body names (the API's partial-update convention)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import CourseSettingsBody, CourseSettingsResponse

app = make_resolver()


@route(app, function("ai-settings-get"), response_model=CourseSettingsResponse, errors=(403, 404))
def get_settings(course_id: uuid.UUID) -> CourseSettingsResponse:
    return CourseSettingsResponse(course_id=course_id, **get_course_ai().get_settings(principal(app), course_id))


def put_settings(course_id: uuid.UUID, body: Annotated[CourseSettingsBody, Body()]) -> CourseSettingsResponse:
    values = get_course_ai().put_settings(principal(app), course_id, body.model_dump(exclude_unset=True))
    return CourseSettingsResponse(course_id=course_id, **values)


for _fn in (function("ai-settings-put"), function("ai-settings-patch")):
    route(app, _fn, response_model=CourseSettingsResponse, errors=(400, 403, 404, 415))(put_settings)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
