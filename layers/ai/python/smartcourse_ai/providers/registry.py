"""The embedder and generator a function uses, chosen by the settings (one instance per process).

``AI_EMBEDDER``: ``minilm`` (default: the packaged model, offline) or ``openai`` (the configured endpoint's
``AI_OPENAI_EMBEDDING_MODEL``, asked for 384 dimensions so the stored vectors keep one width).
``AI_GENERATOR``: ``extractive`` (default: deterministic, offline) or ``openai`` (``AI_OPENAI_CHAT_MODEL`` at
``AI_OPENAI_BASE_URL``, key in Secrets Manager at ``AI_OPENAI_SECRET_ARN``), which falls back to the
extractive generator on any failure.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from smartcourse.settings import get_settings

from smartcourse_ai.providers.base import Embedder, Generator

_lock = threading.RLock()  # the generator builds the embedder while holding it
_embedder: Embedder | None = None
_generator: Generator | None = None
_extractive: Generator | None = None


def embedding_model_name() -> str:
    """The model the embedder would use, without loading it (the consumer records it on a run)."""
    settings = get_settings()
    if settings.ai_embedder == "openai" and settings.ai_openai_embedding_model:
        return settings.ai_openai_embedding_model
    from smartcourse_ai.providers.onnx_embedder import MODEL

    return MODEL


def get_embedder() -> Embedder:
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                _embedder = _make_embedder()
    return _embedder


def _make_embedder() -> Embedder:
    from smartcourse_ai.providers.onnx_embedder import MiniLMEmbedder

    local = MiniLMEmbedder()
    settings = get_settings()
    if settings.ai_embedder == "openai" and settings.ai_openai_embedding_model:
        from smartcourse_ai.providers.openai_compatible import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(model=settings.ai_openai_embedding_model,
                                        count_tokens=local.count_tokens, max_tokens=local.max_tokens)
    return local


def embedding_scorer(embedder: Embedder) -> Any:
    """Semantic similarity of a query to each sentence, for the extractive generator."""

    def score(query: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        try:
            vectors = embedder.embed([query, *sentences])
        except Exception:  # a configured embedder that fails: the extractive answer still comes, by words alone
            from smartcourse_ai.text.similarity import lexical_scores

            return list(lexical_scores(query, sentences))
        return [max(0.0, float(v)) for v in vectors[1:] @ vectors[0]]

    return score


def get_extractive() -> Generator:
    global _extractive
    if _extractive is None:
        from smartcourse_ai.providers.extractive import ExtractiveGenerator

        _extractive = ExtractiveGenerator(scorer=embedding_scorer(get_embedder()))
    return _extractive


def get_generator() -> Generator:
    global _generator
    if _generator is None:
        with _lock:
            if _generator is None:
                _generator = _make_generator()
    return _generator


def _make_generator() -> Generator:
    settings = get_settings()
    extractive = get_extractive()
    if settings.ai_generator != "openai" or not settings.ai_openai_base_url:
        return extractive
    from smartcourse_ai.providers.fallback import FallbackGenerator
    from smartcourse_ai.providers.openai_compatible import OpenAICompatibleGenerator

    primary = OpenAICompatibleGenerator.from_settings()
    return FallbackGenerator(primary, extractive)


def reset() -> None:
    """Forget the instances (tests switch settings)."""
    global _embedder, _generator, _extractive
    with _lock:
        _embedder = _generator = _extractive = None
