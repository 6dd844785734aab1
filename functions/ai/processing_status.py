"""GET /ai/courses/{course_id}/processing-status: the course's indexing progress and last error (staff)."""

import uuid
from typing import Any

from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_course_ai
from smartcourse_ai.domain import IndexStatus
from smartcourse_ai.schemas import ProcessingStatusResponse

FUNCTION = function("ai-processing-status")
app = make_resolver()


@route(app, FUNCTION, response_model=ProcessingStatusResponse, errors=(403, 404))
def processing_status(course_id: uuid.UUID) -> ProcessingStatusResponse:
    run = get_course_ai().processing_status(principal(app), course_id)
    if run is None:
        return ProcessingStatusResponse(course_id=course_id, status=IndexStatus.NOT_INDEXED, chunks=0, embeddings=0,
                                        assets_done=0, assets_total=0, last_error=None, indexed_at=None,
                                        embedding_model=None)
    return ProcessingStatusResponse(course_id=course_id, status=IndexStatus(run.status), chunks=run.chunks,
                                    embeddings=run.embeddings, assets_done=run.assets_done,
                                    assets_total=run.assets_total, last_error=run.last_error,
                                    indexed_at=run.indexed_at, embedding_model=run.embedding_model)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
