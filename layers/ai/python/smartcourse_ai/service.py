"""The AI use cases wired to this process's engine, providers and AWS clients (one instance each)."""

from __future__ import annotations

from functools import lru_cache

from smartcourse.db.engine import get_engine
from smartcourse.settings import get_settings

from smartcourse_ai.assistant import Assistant
from smartcourse_ai.courses_service import CourseAI
from smartcourse_ai.indexing.service import Indexer
from smartcourse_ai.providers import registry


@lru_cache(maxsize=1)
def get_assistant() -> Assistant:
    return Assistant(get_engine, registry.get_embedder, registry.get_generator)


@lru_cache(maxsize=1)
def get_course_ai() -> CourseAI:
    return CourseAI(get_engine, registry.embedding_model_name)


def _read_content(key: str) -> bytes:
    from smartcourse import storage

    settings = get_settings()
    if not settings.content_bucket:
        raise RuntimeError("CONTENT_BUCKET is not set")
    return storage.read(settings.content_bucket, key, settings.content_max_bytes)


@lru_cache(maxsize=1)
def get_indexer() -> Indexer:
    return Indexer(get_engine, registry.get_embedder(), registry.get_generator, _read_content)
