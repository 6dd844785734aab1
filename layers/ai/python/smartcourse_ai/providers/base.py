"""What the AI service asks of a model: the embedder and generator interfaces and the values they exchange.

Implementations: :mod:`smartcourse_ai.providers.onnx_embedder` (the packaged MiniLM, the default),
:mod:`smartcourse_ai.providers.extractive` (the default generator: deterministic, offline) and
:mod:`smartcourse_ai.providers.openai_compatible` (any OpenAI-compatible endpoint, falling back to the
extractive generator on any failure). :mod:`smartcourse_ai.providers.registry` picks them from the settings.

Pure: no I/O here, no third-party imports (numpy arrays are typed loosely so that this module stays light).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Mode(StrEnum):
    """Who asks: a learner gets explanations, an instructor also gets pointers to the material."""

    STUDENT = "student"
    INSTRUCTOR = "instructor"


class Difficulty(StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class Outcome(StrEnum):
    """How a model call ended (recorded in the usage table)."""

    OK = "ok"
    FALLBACK = "fallback"  # the configured provider failed; the extractive generator answered
    NO_ANSWER = "no_answer"  # nothing relevant was retrieved: "I don't know"
    ERROR = "error"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk handed to a generator: the only material an answer may use or cite."""

    chunk_id: uuid.UUID
    course_id: uuid.UUID
    asset_id: uuid.UUID
    heading_path: str  # module, asset and headings, joined by indexing.chunking.PATH_SEPARATOR
    content: str
    score: float  # retrieval relevance, 0..1


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class GeneratedAnswer:
    text: str
    cited_chunk_ids: tuple[uuid.UUID, ...]  # a subset of the passages' ids, best first
    confidence: float  # 0..1
    provider: str  # "extractive", "openai-compatible"
    model: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    outcome: Outcome = Outcome.OK
    knows: bool = True  # False: the answer says it does not know (and cites nothing)


@dataclass(frozen=True)
class QuizQuestion:
    question: str
    options: tuple[str, str, str, str]  # four distinct options
    answer_index: int  # 0..3
    explanation: str
    source_chunk_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class GeneratedQuiz:
    questions: tuple[QuizQuestion, ...]
    provider: str
    model: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    outcome: Outcome = Outcome.OK


@dataclass(frozen=True)
class CourseDigest:
    """What indexing caches per course: a summary, its key topics and the time it takes."""

    summary: str
    key_topics: tuple[str, ...]
    provider: str
    model: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    outcome: Outcome = Outcome.OK


# A streamed answer: text deltas (str), then exactly one GeneratedAnswer (the whole answer, its citations).
StreamItem = str | GeneratedAnswer


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors (cosine similarity = dot product)."""

    @property
    def model(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The longest input (in the embedder's own tokens, special tokens included) it reads whole."""
        ...

    def embed(self, texts: Sequence[str]) -> Any:
        """float32 array of shape (len(texts), dimensions), each row L2-normalised."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the embedder's own tokenizer (special tokens included)."""
        ...


@runtime_checkable
class Generator(Protocol):
    """Writes answers, quizzes and course digests from passages only."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    def answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> GeneratedAnswer:
        """An answer grounded in ``passages`` (never called with none: the service answers "don't know")."""
        ...

    def stream_answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> Iterator[StreamItem]:
        """The same answer as deltas, ending with the whole ``GeneratedAnswer``."""
        ...

    def quiz(self, course_title: str, passages: Sequence[Passage], key_terms: Sequence[str], *,
             num_questions: int, difficulty: Difficulty) -> GeneratedQuiz:
        """Up to ``num_questions`` questions, each answerable from its source passages."""
        ...

    def digest(self, course_title: str, passages: Sequence[Passage], *, max_sentences: int = 5,
               max_topics: int = 8) -> CourseDigest:
        """A summary of the course and its key topics (passages in course order)."""
        ...


DONT_KNOW = ("I don't know: the course material available to you does not cover this question. "
             "Try rephrasing it, or ask your instructor.")
