"""POST /rag/ask/stream: the answer as server-sent events (``text/event-stream``).

API Gateway REST APIs and the Python Lambda runtime cannot stream a response, so the frames are produced in
order and arrive together in one response body (docs/ai.md: "Streaming"); a client reading the stream sees
every frame, at once. Errors before the first frame (validation, authorization, limits) are plain JSON.
"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_assistant
from smartcourse_ai.schemas import AskRequest

FUNCTION = function("ai-rag-ask-stream")
app = make_resolver()
EVENT_STREAM = "text/event-stream; charset=utf-8"


@route(app, FUNCTION, errors=(400, 403, 404, 415, 429, 503), media_type="text/event-stream",
       description="Frames `data: {\"delta\": ...}` then `data: {\"done\": true, \"sources\": [...], "
                   "\"confidence\": ..., \"model\": ...}` (media type text/event-stream).")
def ask_stream(body: Annotated[AskRequest, Body()]) -> Response[str]:
    frames = get_assistant().ask_stream(principal(app), body.question, body.course_ids, body.mode)
    return Response(status_code=200, content_type=EVENT_STREAM, body="".join(frames),
                    headers={"Cache-Control": "no-cache"})


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
