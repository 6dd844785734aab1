"""POST /search and POST /content/search (the existing client's path): hybrid search, two functions."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from smartcourse.http import make_resolver, principal, route
from smartcourse.observability import observed
from smartcourse_ai.catalogue import function
from smartcourse_ai.deferred import get_assistant
from smartcourse_ai.schemas import SearchRequest, SearchResponse, SearchResult

FUNCTIONS = (function("ai-search"), function("ai-content-search"))
app = make_resolver()


def search(body: Annotated[SearchRequest, Body()]) -> SearchResponse:
    outcome = get_assistant().search(principal(app), body.query, body.course_ids, body.limit,
                                     body.similarity_threshold)
    results = [SearchResult(chunk_id=h.chunk_id, course_id=h.course_id, asset_id=h.asset_id,  # type: ignore[arg-type]
                            content=h.content, heading_path=h.heading_path, score=round(h.score, 4),
                            chunk_index=h.chunk_index) for h in outcome.hits]
    return SearchResponse(query=body.query, results=results, total_results=len(results),
                          search_time_ms=round(outcome.elapsed_ms, 2))


for _fn in FUNCTIONS:
    route(app, _fn, response_model=SearchResponse, errors=(400, 404, 415, 429, 503))(search)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
