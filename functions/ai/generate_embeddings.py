"""POST /content/generate-embeddings: re-embed one course (``?course_id=``) or every published one (admin; 202)."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.schemas import GenerateEmbeddingsResponse

FUNCTION = function("ai-generate-embeddings")
app = make_resolver()


@route(app, FUNCTION, status_code=202, response_model=GenerateEmbeddingsResponse, errors=(403, 404))
def generate_embeddings(
    course_id: Annotated[uuid.UUID | None, Query(description="one course; all published courses when left out")]
    = None,
    force_regenerate: Annotated[bool, Query(description="re-embed unchanged assets too")] = False,
) -> GenerateEmbeddingsResponse:
    planned = get_course_ai().generate_embeddings(principal(app), course_id, force_regenerate)
    return GenerateEmbeddingsResponse(course_ids=planned, force_regenerate=force_regenerate)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
