"""POST /ai/courses/{course_id}/quiz: a validated quiz from the course's content (staff); ``save`` stores it."""

import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_assistant
from smartcourse_ai.schemas import QuizQuestionOut, QuizRequest, QuizResponse

FUNCTION = function("ai-quiz")
app = make_resolver()


@route(app, FUNCTION, response_model=QuizResponse, errors=(400, 403, 404, 409, 415, 429, 503))
def generate_quiz(course_id: uuid.UUID, body: Annotated[QuizRequest, Body()]) -> QuizResponse:
    quiz, saved = get_assistant().quiz(principal(app), course_id, num_questions=body.num_questions,
                                       difficulty=body.difficulty, save=body.save, module_id=body.module_id,
                                       title=body.title)
    return QuizResponse(course_id=course_id, difficulty=body.difficulty, model=quiz.model, saved_asset_id=saved,
                        questions=[QuizQuestionOut(question=q.question, options=list(q.options),
                                                   answer_index=q.answer_index, explanation=q.explanation,
                                                   source_chunk_ids=list(q.source_chunk_ids))
                                   for q in quiz.questions])


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
