"""GET /modules/{module_id}: a module (readers of its course; 404 otherwise)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, optional_principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.courses.schemas import ModuleOut
from smartcourse_lms.deferred import get_course_service

FUNCTION = function("lms-modules-get")
app = make_resolver()


@route(app, FUNCTION, response_model=ModuleOut, errors=(404,))
def get_module(module_id: uuid.UUID) -> ModuleOut:
    return ModuleOut.of(get_course_service().get_module(optional_principal(app), module_id))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
