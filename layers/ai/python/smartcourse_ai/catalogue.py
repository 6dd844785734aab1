"""The AI service's functions: its API (search, answers, quizzes, summaries, recommendations, indexing status,
per-course settings, content gaps, usage), its consumer, the per-asset index worker and its outbox publisher.
One declaration each (``smartcourse.catalogue`` types).
"""

from __future__ import annotations

from smartcourse.catalogue import (
    Function,
    Grant,
    HttpRoute,
    KafkaTrigger,
    Service,
    ServiceCatalogue,
    SqsTrigger,
    docs_function,
    health_function,
    outbox_publisher_function,
)
from smartcourse.links import API_PREFIX

INDEX_QUEUE = "ai-index-jobs"

_DB = frozenset({Grant.DATABASE})
# Functions that embed, generate text or record which model embeds may use the configured OpenAI-compatible
# endpoint: its settings and its key's secret (one embedder for every function, or vectors would not compare).
_DB_MODEL = frozenset({Grant.DATABASE, Grant.AI_PROVIDER_KEY})
# Functions running the embedding model: ONNX Runtime wants the memory, and Lambda's CPU share follows it.
MODEL_MEMORY_MB = 1024


def _ai(name: str, method: str, path: str, description: str, *, module: str | None = None,
        grants: frozenset[Grant] = _DB, memory_mb: int = 512, timeout_seconds: int = 10) -> Function:
    return Function(
        name=f"ai-{name}",
        service=Service.AI,
        handler=f"ai.{module or name.replace('-', '_')}.handler",
        description=description,
        routes=(HttpRoute(method, f"{API_PREFIX}{path}"),),
        grants=grants,
        memory_mb=memory_mb,
        timeout_seconds=timeout_seconds,
    )


API_FUNCTIONS: tuple[Function, ...] = (
    health_function(Service.AI),
    docs_function(Service.AI),
    _ai("search", "POST", "/search", "Hybrid search (vector + full text) over the courses the caller may read",
        module="search", grants=_DB_MODEL, memory_mb=MODEL_MEMORY_MB),
    _ai("content-search", "POST", "/content/search", "Hybrid search (the existing client's path)",
        module="search", grants=_DB_MODEL, memory_mb=MODEL_MEMORY_MB),
    _ai("rag-ask", "POST", "/rag/ask", "A grounded answer with its sources and confidence",
        grants=_DB_MODEL, memory_mb=MODEL_MEMORY_MB, timeout_seconds=29),
    _ai("rag-ask-stream", "POST", "/rag/ask/stream", "The same answer as server-sent events (text/event-stream)",
        grants=_DB_MODEL, memory_mb=MODEL_MEMORY_MB, timeout_seconds=29),
    _ai("quiz", "POST", "/ai/courses/{course_id}/quiz", "Generate (and optionally save) a validated quiz (staff)",
        grants=_DB_MODEL | {Grant.SAVE_QUIZ}, memory_mb=MODEL_MEMORY_MB, timeout_seconds=29),
    _ai("summary", "GET", "/ai/courses/{course_id}/summary", "The course's cached summary, key topics and minutes"),
    _ai("recommendations", "GET", "/ai/recommendations/me", "Recommended published courses for the caller"),
    _ai("processing-status", "GET", "/ai/courses/{course_id}/processing-status",
        "Indexing progress and last error of a course (staff)"),
    _ai("generate-embeddings", "POST", "/content/generate-embeddings", "Re-embed a course or all (admin; 202)",
        grants=frozenset({Grant.DATABASE, Grant.AI_INDEX_QUEUE, Grant.AI_PROVIDER_KEY})),
    _ai("settings-get", "GET", "/ai/courses/{course_id}/settings", "The course's AI switches (staff)",
        module="course_settings"),
    # PUT and PATCH alike change only the switches they are sent (the API's update convention).
    _ai("settings-put", "PUT", "/ai/courses/{course_id}/settings", "Turn the course's AI features on/off (staff)",
        module="course_settings"),
    _ai("settings-patch", "PATCH", "/ai/courses/{course_id}/settings",
        "Turn the course's AI features on/off (staff)", module="course_settings"),
    _ai("content-gaps", "GET", "/ai/courses/{course_id}/content-gaps",
        "Questions the course could not answer, grouped (staff; anonymous)"),
    _ai("usage-me", "GET", "/ai/usage/me", "The caller's AI usage this month and remaining quota"),
    _ai("usage", "GET", "/ai/usage", "AI usage per user, course, feature and model, with cost (admin)"),
)

OUTBOX_PUBLISHER = outbox_publisher_function(Service.AI)

EVENT_FUNCTIONS: tuple[Function, ...] = (
    OUTBOX_PUBLISHER,
    Function(
        name="ai-consume-events",
        service=Service.AI,
        handler="ai.consume_events.handler",
        description="Plans indexing runs (course.published), unindexes (course.archived), learns enrollments",
        kafka=KafkaTrigger(event_types=("course.published", "course.archived", "enrollment.created")),
        grants=frozenset({Grant.DATABASE, Grant.AI_INDEX_QUEUE, Grant.AI_PROVIDER_KEY}),
        timeout_seconds=60,
    ),
    Function(
        name="ai-index-asset",
        service=Service.AI,
        handler="ai.index_asset.handler",
        description="Indexes one asset per job (read, chunk, embed, store); the last job of a run ends it",
        sqs=SqsTrigger(queue=INDEX_QUEUE, batch_size=2),
        grants=frozenset({Grant.DATABASE, Grant.CONTENT_READ, Grant.OUTBOX_NUDGE, Grant.AI_PROVIDER_KEY}),
        memory_mb=MODEL_MEMORY_MB,
        timeout_seconds=180,
    ),
)

CATALOGUE = ServiceCatalogue(Service.AI, (*API_FUNCTIONS, *EVENT_FUNCTIONS), outbox_publisher=OUTBOX_PUBLISHER)
function = CATALOGUE.function
