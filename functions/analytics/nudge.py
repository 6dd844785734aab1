"""POST /analytics/courses/{course_id}/at-risk/nudge: nudge learners of the course (staff; 202).

Each learner with an active enrollment gets at most one nudge per course per day, sent by the notification
service from the ``learner.nudge_requested`` event; the others are listed as skipped, with the reason."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.deferred import get_analytics
from smartcourse_analytics.schemas import NudgeRequest, NudgeResponse

FUNCTION = function("analytics-nudge")
app = make_resolver()


@route(app, FUNCTION, status_code=202, response_model=NudgeResponse, errors=(400, 403, 404, 415))
def nudge(course_id: uuid.UUID, body: Annotated[NudgeRequest, Body()]) -> NudgeResponse:
    outcome = get_analytics().nudge(principal(app), course_id, body.user_ids, body.message)
    return NudgeResponse.model_validate(outcome)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
