"""PUT and PATCH /modules/{module_id}: partial update by course staff (two functions, this one module)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import ModuleOut, ModuleUpdateRequest
from smartcourse_lms.deferred import get_course_service

FUNCTIONS = (function("lms-modules-put"), function("lms-modules-patch"))
app = make_resolver()


def update_module(module_id: uuid.UUID, body: Annotated[ModuleUpdateRequest, Body()]) -> ModuleOut:
    return ModuleOut.of(get_course_service().update_module(principal(app), module_id, body.changes()))


for _fn in FUNCTIONS:
    route(app, _fn, response_model=ModuleOut, errors=(400, 403, 404))(update_module)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
