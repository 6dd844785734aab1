"""GET /ai/courses/{course_id}/content-gaps: questions the content could not answer, grouped (no identities)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import ContentGapsResponse, GapGroup

FUNCTION = function("ai-content-gaps")
app = make_resolver()


@route(app, FUNCTION, response_model=ContentGapsResponse, errors=(403, 404))
def content_gaps(course_id: uuid.UUID) -> ContentGapsResponse:
    groups, total = get_course_ai().content_gaps(principal(app), course_id)
    return ContentGapsResponse(course_id=course_id, total_questions=total,
                               groups=[GapGroup(question=g.question, count=g.count, examples=g.examples,
                                                last_asked_at=g.last_asked_at) for g in groups])


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
