"""Internal (no HTTP route): save a generated quiz as a ``quiz`` asset, under the LMS's own staff rules.

The AI service invokes this function (IAM-restricted Lambda invoke) when a quiz is generated with
``save: true``; the LMS checks the caller's rights itself rather than trusting the AI's check.

Event: ``{"actor": {"user_id": "<uuid>", "roles": ["instructor"]}, "course_id": "<uuid>",
"module_id": "<uuid>", "title": "...", "quiz": {"questions": [{"question", "options" (4, distinct),
"answer_index" (0..3), "explanation", "source_chunk_ids"}] (1..20), "generated_by": {"provider", "model"}}}``

Result: ``{"status": 201, "asset": {...}}`` (the asset as the API shows it), or ``{"status": 4xx, "detail": "..."}``:
403 the actor is not the course's instructor or an admin, 404 unknown course (or one the actor cannot see) or
a module that is not the course's, 409 archived course, 422 an invalid event (``problems`` lists each field).
Bad input never raises; only an unexpected failure (database, S3) does, so the invoke reports a function error.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from smartcourse.errors import DomainError, ValidationFailed
from smartcourse.http import status_of, validation_entries
from smartcourse.observability import observed
from smartcourse_lms.assets.quiz import SaveQuizRequest
from smartcourse_lms.assets.schemas import AssetOut
from smartcourse_lms.deferred import get_asset_service

INVALID = "Invalid save-quiz request"


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = SaveQuizRequest.model_validate(event if isinstance(event, dict) else {})
    except ValidationError as error:
        return {"status": int(HTTPStatus.UNPROCESSABLE_ENTITY), "detail": INVALID,
                "problems": validation_entries(error.errors())}
    try:
        asset = get_asset_service().save_quiz(request)
    except ValidationFailed as error:
        return {"status": int(HTTPStatus.UNPROCESSABLE_ENTITY), "detail": error.message,
                "problems": validation_entries(error.problems)}
    except DomainError as error:
        return {"status": int(status_of(error)), "detail": error.message}
    return {"status": int(HTTPStatus.CREATED), "asset": AssetOut.of(asset).model_dump(mode="json")}
