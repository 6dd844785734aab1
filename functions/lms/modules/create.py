"""POST /modules: add a module to a course (course staff); appended last unless order_index is given."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import ModuleCreateRequest, ModuleOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-modules-create")
app = make_resolver()


@route(app, FUNCTION, status_code=201, response_model=ModuleOut, errors=(400, 403, 404))
def create_module(body: Annotated[ModuleCreateRequest, Body()]) -> ModuleOut:
    return ModuleOut.of(get_course_service().create_module(principal(app), body.model_dump()))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
