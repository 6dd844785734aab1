"""A fast slice of the retrieval evaluation (tests/benchmarks/ai_eval.py, with its functions): one evaluation course
indexed into a fresh AI database; the production hybrid retrieval finds the gold section in the top 5 for most of
its questions, and off-topic questions retrieve nothing above the relevance threshold."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.benchmarks import ai_eval
from tests.support.ai import evaluation_courses

pytestmark = pytest.mark.integration

COURSE = "web-security"
OFF_TOPIC = 10


@pytest.fixture(scope="module")
def embedder() -> Any:
    return ai_eval.default_embedder()


@pytest.fixture(scope="module")
def corpus(postgres: Any, embedder: Any) -> Iterator[ai_eval.Corpus]:
    courses = evaluation_courses()  # checked in: a missing course is a failure, not a skip
    url = ai_eval.ai_database(postgres, f"ai_smoke_{uuid.uuid4().hex[:8]}")
    engine = ai_eval.connect(url)
    try:
        with ai_eval.eval_environment(url):
            yield ai_eval.index_courses(engine, embedder, {COURSE: courses[COURSE]})
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def assistant(corpus: ai_eval.Corpus, embedder: Any) -> Any:
    return ai_eval.make_assistant(corpus.engine, embedder)


def test_hybrid_search_puts_the_gold_section_in_the_top_five(corpus: ai_eval.Corpus, assistant: Any) -> None:
    on_topic, _ = ai_eval.load_questions()
    questions = [q for q in on_topic if q.course == COURSE]
    assert questions
    retrieved = ai_eval.retrieve_all(corpus, assistant, questions, rankings=False)
    ranks = [ai_eval.rank_of(ai_eval.keys(r.hits), r.gold) for r in retrieved]
    missed = [r.question.id for r, rank in zip(retrieved, ranks, strict=True) if rank is None or rank > ai_eval.HIT_K]
    assert ai_eval.hit_at(ranks) >= 0.8, f"gold outside the top {ai_eval.HIT_K}: {missed}"


def test_off_topic_questions_retrieve_nothing_above_the_threshold(corpus: ai_eval.Corpus, assistant: Any) -> None:
    _, off_topic = ai_eval.load_questions()
    questions = off_topic[:OFF_TOPIC]
    assert len(questions) == OFF_TOPIC
    refused = [ai_eval.dont_know(ai_eval.hybrid_hits(assistant, q.text, corpus.course_ids)[1]) for q in questions]
    assert sum(refused) >= 0.9 * OFF_TOPIC, [q.id for q, r in zip(questions, refused, strict=True) if not r]
