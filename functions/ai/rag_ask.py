"""POST /rag/ask: a grounded answer, its sources and confidence ("I don't know" with no sources otherwise)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_assistant, sources
from smartcourse_ai.schemas import AskRequest, AskResponse

FUNCTION = function("ai-rag-ask")
app = make_resolver()


@route(app, FUNCTION, response_model=AskResponse, errors=(400, 403, 404, 415, 429, 503))
def ask(body: Annotated[AskRequest, Body()]) -> AskResponse:
    outcome = get_assistant().ask(principal(app), body.question, body.course_ids, body.mode)
    answer = outcome.answer
    return AskResponse(answer=answer.text, sources=sources(answer, outcome.passages),
                       confidence=round(answer.confidence, 4), model=answer.model)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
