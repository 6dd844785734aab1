"""GET /ai/courses/{course_id}/summary: the summary, key topics and minutes computed when it was indexed."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import SummaryResponse

FUNCTION = function("ai-summary")
app = make_resolver()


@route(app, FUNCTION, response_model=SummaryResponse, errors=(403, 404, 409))
def course_summary(course_id: uuid.UUID) -> SummaryResponse:
    run = get_course_ai().summary(principal(app), course_id)
    assert run.summary is not None and run.generated_at is not None
    return SummaryResponse(course_id=course_id, summary=run.summary, key_topics=run.key_topics,
                           estimated_minutes=run.estimated_minutes or 1, model=run.digest_model or "",
                           generated_at=run.generated_at)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
