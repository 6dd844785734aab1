"""Use cases of the AI API that read course content: search, answers (also streamed) and quizzes.

A caller only ever gets content of courses they may read: the AI service indexes published courses only
(a draft's content never reaches it), archived ones leave the index at once, and a course filter naming a
course the service does not hold as published is a 404, whoever asks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from smartcourse.errors import Conflict, Forbidden, NotFound, Unavailable, ValidationFailed
from smartcourse.principal import Principal
from smartcourse.settings import get_settings
from sqlalchemy import Connection, Engine, insert

from smartcourse_ai import repository as repo
from smartcourse_ai import search_repository, usage
from smartcourse_ai.domain import CourseFeature, Feature, is_course_staff
from smartcourse_ai.providers.base import (
    DONT_KNOW,
    Difficulty,
    Embedder,
    GeneratedAnswer,
    GeneratedQuiz,
    Generator,
    Mode,
    Outcome,
    Passage,
    TokenUsage,
)
from smartcourse_ai.retrieval import DEFAULT_THRESHOLD, Hit
from smartcourse_ai.tables import unanswered_questions

COURSE_NOT_FOUND = "Course not found"
ANSWER_PASSAGES = 5
QUIZ_PASSAGES = 200
EXCERPT_CHARS = 300
QUIZ_TITLE_CHARS = 255  # the LMS's asset title limit
FEATURE_OFF = "{feature} is turned off for this course by its staff"


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]
    elapsed_ms: float


@dataclass(frozen=True)
class AskOutcome:
    answer: GeneratedAnswer
    passages: list[Passage]


def _passage(hit: Hit) -> Passage:
    return Passage(chunk_id=hit.chunk_id, course_id=hit.course_id, asset_id=hit.asset_id,  # type: ignore[arg-type]
                   heading_path=hit.heading_path, content=hit.content, score=hit.score)


def settings_of(conn: Connection, course_id: uuid.UUID) -> dict[str, bool]:
    row = repo.get_settings_row(conn, course_id) or {}
    return {str(f): bool(row.get(str(f), True)) for f in CourseFeature}


def feature_enabled(conn: Connection, course_id: uuid.UUID, feature: CourseFeature) -> bool:
    return settings_of(conn, course_id)[str(feature)]


class Assistant:
    def __init__(self, engine: Callable[[], Engine], embedder: Callable[[], Embedder],
                 generator: Callable[[], Generator], *, clock: Callable[[], datetime] | None = None,
                 save_quiz: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self._engine = engine
        self._embedder = embedder
        self._generator = generator
        self._clock = clock or (lambda: datetime.now(UTC))
        self._save_quiz = save_quiz

    # --- shared steps ------------------------------------------------------------------------------------------

    def _limits(self) -> usage.Limits:
        settings = get_settings()
        return usage.Limits(settings.ai_rate_limit_per_minute, settings.ai_monthly_token_quota)

    def _readable(self, conn: Connection, wanted: Sequence[uuid.UUID] | None,
                  feature: CourseFeature | None = None) -> list[uuid.UUID]:
        wanted_ids = list(dict.fromkeys(wanted)) if wanted is not None else None
        readable = repo.readable_course_ids(conn, wanted_ids)
        if wanted_ids is not None and len(readable) != len(wanted_ids):
            raise NotFound(COURSE_NOT_FOUND)
        if feature is None:
            return readable
        switched_off = repo.courses_with_feature_off(conn, str(feature))
        enabled = [c for c in readable if c not in switched_off]
        if wanted_ids is not None and len(enabled) != len(readable):
            raise Forbidden(FEATURE_OFF.format(feature="The AI assistant (chat)"))
        return enabled

    def _threshold(self, requested: float | None) -> float:
        if requested is not None:
            return requested
        configured = get_settings().ai_relevance_threshold
        return DEFAULT_THRESHOLD if configured is None else configured

    def _retrieve(self, text: str, course_ids: Sequence[uuid.UUID]) -> tuple[Any, list[Hit]]:
        try:
            vector = self._embedder().embed([text])[0]
        except Exception as exc:
            # Only a configured (remote) embedder can fail here: a clear 503, never a 500.
            raise Unavailable("The embedding model did not answer; try again shortly") from exc
        with self._engine().begin() as conn:
            search_repository.prepare(conn)
            hits = search_repository.search(conn, vector, text, course_ids)
        hits.sort(key=lambda h: (-h.score, -h.similarity, str(h.chunk_id)))
        return vector, hits

    def _tokens(self, *texts: str) -> int:
        embedder = self._embedder()
        return sum(embedder.count_tokens(t) for t in texts if t)

    def _record(self, caller: Principal, course_id: uuid.UUID | None, feature: Feature, provider: str, model: str,
                tokens: TokenUsage, started: float, outcome: Outcome) -> None:
        with self._engine().begin() as conn:
            usage.record(conn, user_id=caller.user_id, course_id=course_id, feature=feature, provider=provider,
                         model=model, tokens=tokens, latency_ms=(time.perf_counter() - started) * 1000,
                         outcome=outcome)

    # --- search ------------------------------------------------------------------------------------------------

    def search(self, caller: Principal, query: str, course_ids: Sequence[uuid.UUID] | None, limit: int,
               threshold: float | None) -> SearchOutcome:
        started = time.perf_counter()
        with self._engine().begin() as conn:
            usage.check_limits(conn, caller.user_id, self._limits(), self._clock())
            readable = self._readable(conn, course_ids)
        _, hits = self._retrieve(query, readable)
        floor = self._threshold(threshold)
        kept = [h for h in hits if h.score >= floor][:limit]
        embedder = self._embedder()
        self._record(caller, course_ids[0] if course_ids and len(course_ids) == 1 else None, Feature.SEARCH,
                     "local" if embedder.model.endswith("int8") else "openai-compatible", embedder.model,
                     TokenUsage(prompt_tokens=self._tokens(query)), started, Outcome.OK)
        return SearchOutcome(kept, (time.perf_counter() - started) * 1000)

    # --- answers -----------------------------------------------------------------------------------------------

    def _prepare_answer(self, caller: Principal, question: str,
                        course_ids: Sequence[uuid.UUID] | None) -> tuple[Any, list[Hit], list[Passage]]:
        with self._engine().begin() as conn:
            usage.check_limits(conn, caller.user_id, self._limits(), self._clock())
            readable = self._readable(conn, course_ids, CourseFeature.CHAT)
        vector, hits = self._retrieve(question, readable)
        floor = self._threshold(None)
        passages = [_passage(h) for h in hits if h.score >= floor][:ANSWER_PASSAGES]
        return vector, hits, passages

    def _dont_know(self) -> GeneratedAnswer:
        generator = self._generator()
        return GeneratedAnswer(text=DONT_KNOW, cited_chunk_ids=(), confidence=0.0, provider=generator.provider,
                               model=generator.model, outcome=Outcome.NO_ANSWER, knows=False)

    def _finish_answer(self, caller: Principal, question: str, course_ids: Sequence[uuid.UUID] | None,
                       vector: Any, hits: list[Hit], passages: list[Passage], answer: GeneratedAnswer,
                       started: float) -> GeneratedAnswer:
        if not answer.knows:
            # A content gap: kept per course, without the asker: the course asked about, else the nearest course
            # when the question is at least somewhat related to it (an unrelated question is nobody's gap).
            gap_course = (course_ids[0] if course_ids and len(course_ids) == 1
                          else (hits[0].course_id if hits and hits[0].score > 0 else None))
            if gap_course is not None:
                with self._engine().begin() as conn:
                    conn.execute(insert(unanswered_questions).values(course_id=gap_course, question=question,
                                                                     embedding=vector))
            answer = replace(answer, cited_chunk_ids=(), outcome=Outcome.NO_ANSWER if answer.outcome is Outcome.OK
                             else answer.outcome)
        tokens = answer.usage
        if tokens.total == 0:
            tokens = TokenUsage(prompt_tokens=self._tokens(question, *(p.content for p in passages)),
                                completion_tokens=self._tokens(answer.text))
        course = passages[0].course_id if passages else (course_ids[0] if course_ids else None)
        self._record(caller, course, Feature.ASK, answer.provider, answer.model, tokens, started, answer.outcome)
        return answer

    def ask(self, caller: Principal, question: str, course_ids: Sequence[uuid.UUID] | None,
            mode: Mode) -> AskOutcome:
        started = time.perf_counter()
        vector, hits, passages = self._prepare_answer(caller, question, course_ids)
        answer = self._generator().answer(question, passages, mode=mode) if passages else self._dont_know()
        answer = self._finish_answer(caller, question, course_ids, vector, hits, passages, answer, started)
        return AskOutcome(answer, passages)

    def ask_stream(self, caller: Principal, question: str, course_ids: Sequence[uuid.UUID] | None,
                   mode: Mode) -> Iterator[str]:
        """Server-sent-event frames: ``{"delta"}`` frames, then one ``{"done": true, ...}`` frame.

        Validation, authorization and limits happen before the first frame (so they are plain HTTP errors).
        """
        started = time.perf_counter()
        vector, hits, passages = self._prepare_answer(caller, question, course_ids)

        def frames() -> Iterator[str]:
            final: GeneratedAnswer | None = None
            if passages:
                for item in self._generator().stream_answer(question, passages, mode=mode):
                    if isinstance(item, str):
                        yield sse({"delta": item})
                    else:
                        final = item
            if final is None:
                final = self._dont_know()
                yield sse({"delta": final.text})
            final = self._finish_answer(caller, question, course_ids, vector, hits, passages, final, started)
            yield sse({"done": True, "sources": [s.model_dump(mode="json") for s in sources(final, passages)],
                       "confidence": round(final.confidence, 4), "model": final.model})

        return frames()

    # --- quizzes -----------------------------------------------------------------------------------------------

    def quiz(self, caller: Principal, course_id: uuid.UUID, *, num_questions: int, difficulty: Difficulty,
             save: bool, module_id: uuid.UUID | None, title: str | None) -> tuple[GeneratedQuiz, uuid.UUID | None]:
        from smartcourse_ai.quiz_checks import unsupported_reason

        if save and module_id is None:
            raise ValidationFailed("module_id is required to save the quiz",
                                   [{"loc": ["body", "module_id"], "msg": "required with save: true",
                                     "type": "missing"}])
        started = time.perf_counter()
        with self._engine().begin() as conn:
            course = repo.get_course(conn, course_id)
            if course is None or not course.published:
                raise NotFound(COURSE_NOT_FOUND)
            if not is_course_staff(course.instructor_id, caller):
                raise Forbidden("Only the course's staff can generate quizzes")
            if not feature_enabled(conn, course_id, CourseFeature.QUIZ):
                raise Forbidden(FEATURE_OFF.format(feature="Quiz generation"))
            usage.check_limits(conn, caller.user_id, self._limits(), self._clock())
            rows = repo.course_chunks(conn, course_id, limit=QUIZ_PASSAGES, with_embeddings=False)
        if not rows:
            raise Conflict("The course is not indexed yet")
        passages = [Passage(chunk_id=r.id, course_id=course_id, asset_id=r.asset_id, heading_path=r.heading_path,
                            content=r.content, score=1.0) for r in rows]
        generated = self._generator().quiz(course.title, passages, (), num_questions=num_questions,
                                           difficulty=difficulty)
        by_id = {p.chunk_id: p for p in passages}
        # Checked here too, whoever wrote them: a question whose answer its sources do not support is dropped.
        checked = tuple(q for q in generated.questions if unsupported_reason(q, by_id) is None)
        generated = replace(generated, questions=checked[:num_questions])
        tokens = generated.usage if generated.usage.total else TokenUsage(
            prompt_tokens=self._tokens(*(p.content for p in passages[:20])),
            completion_tokens=self._tokens(*(q.question + " " + " ".join(q.options) for q in checked)))
        self._record(caller, course_id, Feature.QUIZ, generated.provider, generated.model, tokens, started,
                     generated.outcome)
        saved: uuid.UUID | None = None
        if save and module_id is not None:
            name = title or f"Quiz: {course.title}"[:QUIZ_TITLE_CHARS]
            saved = self._store_quiz(caller, course_id, module_id, name, generated)
        return generated, saved

    def _store_quiz(self, caller: Principal, course_id: uuid.UUID, module_id: uuid.UUID, title: str,
                    quiz: GeneratedQuiz) -> uuid.UUID:
        if not quiz.questions:
            raise Conflict("No question could be generated from this course's content")
        from smartcourse_ai.aws import invoke_save_quiz

        save = self._save_quiz or invoke_save_quiz
        questions = [{"question": q.question, "options": list(q.options), "answer_index": q.answer_index,
                      "explanation": q.explanation, "source_chunk_ids": [str(c) for c in q.source_chunk_ids]}
                     for q in quiz.questions]
        try:
            answer = save({"actor": {"user_id": str(caller.user_id), "roles": sorted(caller.roles)},
                           "course_id": str(course_id), "module_id": str(module_id), "title": title,
                           "quiz": {"questions": questions,
                                    "generated_by": {"provider": quiz.provider, "model": quiz.model}}})
        except Exception as exc:
            # Not retried here: the LMS may have stored it before the answer was lost.
            raise Unavailable("The LMS did not confirm saving the quiz (it may have been saved; check the module "
                              "before trying again)", retry_after_seconds=10) from exc
        status = int(answer.get("status", 500))
        detail = str(answer.get("detail") or "The LMS refused the quiz")
        if status == 201:
            return uuid.UUID(str(answer["asset"]["id"]))
        errors: dict[int, type[Exception]] = {403: Forbidden, 404: NotFound, 409: Conflict}
        if status == 422:
            raise ValidationFailed(detail)
        raise errors.get(status, Conflict)(detail)


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


def sources(answer: GeneratedAnswer, passages: Sequence[Passage]) -> list[Any]:
    from smartcourse_ai.schemas import Source

    by_id = {p.chunk_id: p for p in passages}
    return [Source(chunk_id=p.chunk_id, course_id=p.course_id, asset_id=p.asset_id, heading_path=p.heading_path,
                   excerpt=p.content[:EXCERPT_CHARS], score=round(p.score, 4))
            for p in (by_id[c] for c in answer.cited_chunk_ids if c in by_id)]
