"""POST /progress/assets/{asset_id}: record a learner's progress; may complete the course and issue its certificate."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_lms.catalogue import function
from smartcourse_lms.deferred import get_enrollment_service
from smartcourse_lms.enrollments.schemas import ProgressRequest, ProgressUpdateOut

FUNCTION = function("lms-progress-record")
app = make_resolver()


@route(app, FUNCTION, response_model=ProgressUpdateOut, errors=(403, 404, 409))
def record_progress(asset_id: uuid.UUID, body: Annotated[ProgressRequest, Body()]) -> ProgressUpdateOut:
    return ProgressUpdateOut.of(get_enrollment_service().record_progress(principal(app), asset_id, body.model_dump()))


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
