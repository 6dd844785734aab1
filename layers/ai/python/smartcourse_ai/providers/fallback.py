"""A generator that never fails because of the configured provider: the extractive generator takes over.

Any exception of the primary (timeouts, 429, 5xx, 4xx such as a wrong key, connection errors, malformed or invalid
output, a stream broken mid-way, a missing configuration) is logged as a warning -- the exception's type and HTTP
status only, never its message, the prompt, the course content or the key -- and the fallback's result is returned
with ``outcome=Outcome.FALLBACK``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import TypeVar

from smartcourse_ai.providers.base import (
    CourseDigest,
    Difficulty,
    GeneratedAnswer,
    GeneratedQuiz,
    Generator,
    Mode,
    Outcome,
    Passage,
    StreamItem,
)

log = logging.getLogger(__name__)

STREAM_SEPARATOR = "\n\n"

_R = TypeVar("_R", GeneratedAnswer, GeneratedQuiz, CourseDigest)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


class FallbackGenerator:
    """``primary`` (e.g. the OpenAI-compatible generator), or ``fallback`` (the extractive one) when it fails.

    ``provider`` and ``model`` are the primary's; a result produced by the fallback carries the fallback's provider
    and model and ``outcome=Outcome.FALLBACK``.
    """

    def __init__(self, primary: Generator, fallback: Generator) -> None:
        self._primary = primary
        self._fallback = fallback

    @property
    def primary(self) -> Generator:
        return self._primary

    @property
    def fallback(self) -> Generator:
        return self._fallback

    @property
    def provider(self) -> str:
        return self._primary.provider

    @property
    def model(self) -> str:
        return self._primary.model

    def _warn(self, operation: str, exc: BaseException, *, mid_stream: bool = False) -> None:
        status = _status(exc)
        log.warning("AI provider %s (%s) failed in %s%s: %s%s; the %s generator answers instead",
                    self._primary.provider, self._primary.model, operation, " mid-stream" if mid_stream else "",
                    type(exc).__name__, f" (HTTP {status})" if status is not None else "",
                    self._fallback.provider,
                    extra={"ai_operation": operation, "ai_error_type": type(exc).__name__,
                           "ai_error_status": status, "ai_provider": self._primary.provider})

    @staticmethod
    def _mark(result: _R) -> _R:
        return dataclasses.replace(result, outcome=Outcome.FALLBACK)

    def answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> GeneratedAnswer:
        try:
            return self._primary.answer(question, passages, mode=mode)
        except Exception as exc:
            self._warn("answer", exc)
        return self._mark(self._fallback.answer(question, passages, mode=mode))

    def stream_answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> Iterator[StreamItem]:
        yielded = False
        primary: Iterator[StreamItem] = iter(())
        try:
            primary = iter(self._primary.stream_answer(question, passages, mode=mode))
            for item in primary:
                if isinstance(item, GeneratedAnswer):
                    yield item
                    return
                if item:
                    yielded = True
                    yield item
            raise RuntimeError("the stream ended without a final answer")
        except Exception as exc:
            self._warn("stream_answer", exc, mid_stream=yielded)
        finally:
            close = getattr(primary, "close", None)
            if close is not None:
                close()
        if yielded:
            yield STREAM_SEPARATOR
        for item in self._fallback.stream_answer(question, passages, mode=mode):
            yield self._mark(item) if isinstance(item, GeneratedAnswer) else item

    def quiz(self, course_title: str, passages: Sequence[Passage], key_terms: Sequence[str], *,
             num_questions: int, difficulty: Difficulty) -> GeneratedQuiz:
        try:
            return self._primary.quiz(course_title, passages, key_terms, num_questions=num_questions,
                                      difficulty=difficulty)
        except Exception as exc:
            self._warn("quiz", exc)
        return self._mark(self._fallback.quiz(course_title, passages, key_terms, num_questions=num_questions,
                                              difficulty=difficulty))

    def digest(self, course_title: str, passages: Sequence[Passage], *, max_sentences: int = 5,
               max_topics: int = 8) -> CourseDigest:
        try:
            return self._primary.digest(course_title, passages, max_sentences=max_sentences, max_topics=max_topics)
        except Exception as exc:
            self._warn("digest", exc)
        return self._mark(self._fallback.digest(course_title, passages, max_sentences=max_sentences,
                                                max_topics=max_topics))
