"""Retrieval evaluation of the AI service: ``python -m tests.benchmarks.ai_eval``.

The three evaluation courses (tests/fixtures/ai/courses) are indexed in process into a fresh AI database on an
embedded PostgreSQL with pgvector (the consumer's effects plan the runs, the index worker's ``Indexer`` runs
the jobs; the articles are read from a dict instead of S3). Then, for every answerable question of
tests/fixtures/ai/questions.json, over all three courses at once:

* lexical: PostgreSQL any-term full text ranked by ``ts_rank_cd`` (as the hybrid query ranks its text side);
* vector: exact cosine over every chunk;
* hybrid: the production path (``Assistant._retrieve``: ``search_repository.search``, sorted by ``Hit.score``).

A hit is a chunk whose heading path is the gold section's (module > asset > heading; module > asset for a
video). Off-topic questions go through ``Assistant.ask`` (retrieval, relevance threshold, extractive answer):
each should come back as "I don't know"; the answerable questions go through it too, to count false refusals.

The sweep varies the fusion constants of ``smartcourse_ai.retrieval`` (by patching the module's globals, so the
production ``Hit.score`` computes them), the candidates per side and the chunk window, on the whole set.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import Engine, Integer, String, bindparam, create_engine, text

from tests.support.ai import PublishedCourse, evaluation_courses, evaluation_questions, published_course

HIT_K = 5
MRR_K = 10
HYBRID_HIT_GOAL = 0.85
HYBRID_MARGIN_GOAL = 0.20  # hybrid hit@5 at least this much above lexical's
OFF_TOPIC_GOAL = 0.95
SECTION_HEADING = "## AI retrieval evaluation"
SEP = " \u203a "  # as in heading paths
DEFAULT_WINDOWS = "128,256"  # chunk windows of the sweep (the indexer's default, 128, is already indexed)
# Settings the in-process assistant reads: no rate limit nor quota in the way, the default threshold.
EVAL_ENVIRONMENT = {"SERVICE_NAME": "ai", "AI_RATE_LIMIT_PER_MINUTE": "1000000",
                    "AI_MONTHLY_TOKEN_QUOTA": "1000000000", "AI_GENERATOR": "extractive", "AI_EMBEDDER": "minilm"}
UNSET_ENVIRONMENT = ("AI_RELEVANCE_THRESHOLD", "OUTBOX_PUBLISHER_FUNCTION", "AI_OPENAI_BASE_URL")

# ---------------------------------------------------------------------------------------------------------------
# The database and the indexed corpus
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server(prefix: str = "smartcourse-ai-eval-") -> Iterator[Any]:
    """An embedded PostgreSQL (pgvector) on a free loopback port under a temporary directory; stopped after."""
    from localcloud.services import PostgresService, free_port

    with tempfile.TemporaryDirectory(prefix=prefix) as state:
        server = PostgresService(data_dir=Path(state) / "pgdata", port=free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


def ai_database(server: Any, name: str | None = None) -> str:
    """A new database on ``server`` with the AI service's migrations applied; its URL."""
    from smartcourse.db.migrate import upgrade

    url: str = server.database_url(name or f"ai_eval_{uuid.uuid4().hex[:8]}")
    upgrade(url, service="ai")
    return url


def connect(url: str) -> Engine:
    from smartcourse.db.engine import normalise_url

    return create_engine(normalise_url(url), pool_size=2, max_overflow=2)


@contextlib.contextmanager
def environment(values: dict[str, str], dropped: Sequence[str] = ()) -> Iterator[None]:
    """``values`` in os.environ and ``dropped`` out of it, with settings, engine, providers, storage client and
    services re-created from them; all restored after."""
    from smartcourse import storage
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_ai import service
    from smartcourse_ai.providers import registry

    saved = {k: os.environ.get(k) for k in [*values, *dropped]}
    for key in dropped:
        os.environ.pop(key, None)
    os.environ.update(values)

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        registry.reset()
        storage.reset_client()
        service.get_assistant.cache_clear()

    reset()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset()


def eval_environment(url: str) -> contextlib.AbstractContextManager[None]:
    """The environment an AI function would have, pointing at ``url``."""
    return environment({**EVAL_ENVIRONMENT, "DATABASE_URL": url, "DB_NAME": url.rsplit("/", 1)[-1]},
                       UNSET_ENVIRONMENT)


def default_embedder() -> Any:
    from smartcourse_ai.providers.onnx_embedder import MiniLMEmbedder

    return MiniLMEmbedder()


@dataclass
class Corpus:
    """The evaluation courses as indexed: slug -> published course, and the chunk count."""

    engine: Engine
    courses: dict[str, PublishedCourse]
    chunks: int
    chunk_tokens: int
    index_seconds: float

    @property
    def course_ids(self) -> list[uuid.UUID]:
        return [c.course_id for c in self.courses.values()]


def index_courses(engine: Engine, embedder: Any, specs: dict[str, dict[str, Any]], *,
                  chunk_tokens: int | None = None) -> Corpus:
    """Publish each course (the consumer's ``course.published`` effect) and run its index jobs (the worker's
    ``Indexer``), articles read from memory. Every run must end ``ready``."""
    from smartcourse_ai.consumer import make_effects
    from smartcourse_ai.indexing.service import Indexer
    from smartcourse_ai.providers.extractive import ExtractiveGenerator
    from smartcourse_events.registry import build_event

    courses = {slug: published_course(spec) for slug, spec in specs.items()}
    documents = {key: data for c in courses.values() for key, data in c.documents.items()}
    jobs: list[Any] = []
    effects = make_effects(lambda: embedder.model, enqueue=jobs.extend)
    generator = ExtractiveGenerator()
    indexer = Indexer(lambda: engine, embedder, lambda: generator, documents.__getitem__, chunk_tokens=chunk_tokens)
    started = time.perf_counter()
    for course in courses.values():
        envelope = build_event(course.payload, event_type="course.published", producer="lms")
        with engine.begin() as conn:
            effects["course.published"](envelope, conn)
    while jobs:
        indexer.run_job(jobs.pop(0))
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT status, count(*) FROM course_index WHERE course_id = ANY(:c) "
                                     "GROUP BY status"), {"c": [c.course_id for c in courses.values()]}).all()
        chunks = conn.execute(text("SELECT count(*) FROM chunks WHERE course_id = ANY(:c)"),
                              {"c": [c.course_id for c in courses.values()]}).scalar_one()
    if dict(statuses) != {"ready": len(courses)}:
        raise RuntimeError(f"indexing did not end ready: {statuses}")
    return Corpus(engine, courses, int(chunks), indexer.chunk_tokens, elapsed)


# ---------------------------------------------------------------------------------------------------------------
# Questions and the three rankings
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    course: str | None = None  # slug; None off topic
    gold: tuple[str, str, str | None] | None = None  # module, asset, heading (None for a video)

    def gold_key(self, corpus: Corpus) -> tuple[uuid.UUID, str] | None:
        from smartcourse_ai.indexing.chunking import heading_path

        if self.course is None or self.gold is None:
            return None
        module, asset, section = self.gold
        return corpus.courses[self.course].course_id, heading_path(module, asset, section or "")


def load_questions() -> tuple[list[Question], list[Question]]:
    """(answerable, off-topic) questions of the fixture."""
    data = evaluation_questions()
    on = [Question(q["id"], q["question"], q["course"],
                   (q["gold"]["module"], q["gold"]["asset"], q["gold"].get("heading")))
          for q in data["questions"]]
    off = [Question(q["id"], q["question"]) for q in data["off_topic"]]
    return on, off


Key = tuple[uuid.UUID, str]  # (course id, heading path) of a chunk

_LEXICAL = None
_VECTOR = None


def _lexical_sql() -> Any:
    global _LEXICAL
    if _LEXICAL is None:
        from smartcourse_ai.tables import TS_CONFIG
        from sqlalchemy.dialects.postgresql import ARRAY
        from sqlalchemy.dialects.postgresql import UUID as PG_UUID

        # The hybrid query's text side alone: any term, ts_rank_cd with normalisation 32.
        _LEXICAL = text(f"""
            SELECT c.course_id, c.heading_path FROM chunks c
            WHERE c.course_id = ANY(:courses) AND c.tsv @@ to_tsquery('{TS_CONFIG}', :tsq)
            ORDER BY ts_rank_cd(c.tsv, to_tsquery('{TS_CONFIG}', :tsq), 32) DESC, c.id
            LIMIT :k""").bindparams(  # noqa: S608 - only the constant configuration is formatted in
            bindparam("courses", type_=ARRAY(PG_UUID(as_uuid=True))), bindparam("tsq", type_=String),
            bindparam("k", type_=Integer))
    return _LEXICAL


def _vector_sql() -> Any:
    global _VECTOR
    if _VECTOR is None:
        from pgvector.sqlalchemy import Vector
        from smartcourse_ai.domain import EMBEDDING_DIMENSIONS
        from sqlalchemy.dialects.postgresql import ARRAY
        from sqlalchemy.dialects.postgresql import UUID as PG_UUID

        _VECTOR = text("""
            SELECT c.course_id, c.heading_path FROM chunks c
            WHERE c.course_id = ANY(:courses)
            ORDER BY c.embedding <=> :q, c.id
            LIMIT :k""").bindparams(
            bindparam("q", type_=Vector(EMBEDDING_DIMENSIONS)),
            bindparam("courses", type_=ARRAY(PG_UUID(as_uuid=True))), bindparam("k", type_=Integer))
    return _VECTOR


def lexical_ranking(engine: Engine, question: str, course_ids: Sequence[uuid.UUID], k: int = MRR_K) -> list[Key]:
    from smartcourse_ai.retrieval import ts_query

    tsq = ts_query(question)
    if tsq is None:
        return []
    with engine.connect() as conn:
        rows = conn.execute(_lexical_sql(), {"courses": list(course_ids), "tsq": tsq, "k": k}).all()
    return [(r[0], r[1]) for r in rows]


def vector_ranking(engine: Engine, vector: Any, course_ids: Sequence[uuid.UUID], k: int = MRR_K) -> list[Key]:
    """Exact nearest chunks by cosine (a sequential scan: no approximate index in the way)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
        rows = conn.execute(_vector_sql(), {"q": vector, "courses": list(course_ids), "k": k}).all()
    return [(r[0], r[1]) for r in rows]


def make_assistant(engine: Engine, embedder: Any) -> Any:
    """The production assistant on this engine, the embedder and the extractive generator a function builds."""
    from smartcourse_ai.assistant import Assistant
    from smartcourse_ai.providers.extractive import ExtractiveGenerator
    from smartcourse_ai.providers.registry import embedding_scorer

    generator = ExtractiveGenerator(scorer=embedding_scorer(embedder))
    return Assistant(lambda: engine, lambda: embedder, lambda: generator)


def hybrid_hits(assistant: Any, question: str, course_ids: Sequence[uuid.UUID]) -> tuple[Any, list[Any]]:
    """The production retrieval: the question's vector and its hits (``search_repository.search`` with the
    default candidates), best ``Hit.score`` first."""
    vector, hits = assistant._retrieve(question, course_ids)
    return vector, hits


def rerank(hits: Sequence[Any]) -> list[Any]:
    """Hits in the assistant's order, by the score the current retrieval constants give."""
    return sorted(hits, key=lambda h: (-h.score, -h.similarity, str(h.chunk_id)))


def keys(hits: Sequence[Any]) -> list[Key]:
    return [(h.course_id, h.heading_path) for h in hits]


def rank_of(ranking: Sequence[Key], gold: Key, k: int = MRR_K) -> int | None:
    for position, key in enumerate(ranking[:k], start=1):
        if key == gold:
            return position
    return None


def hit_at(ranks: Sequence[int | None], k: int = HIT_K) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int | None], k: int = MRR_K) -> float:
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def top_score(hits: Sequence[Any]) -> float:
    return max((h.score for h in hits), default=0.0)


def dont_know(hits: Sequence[Any], threshold: float | None = None) -> bool:
    """Nothing retrieved at or above the relevance threshold: the assistant would answer "I don't know"."""
    from smartcourse_ai import retrieval

    floor = retrieval.DEFAULT_THRESHOLD if threshold is None else threshold
    return not any(h.score >= floor for h in hits)


def ask_knows(assistant: Any, question: str, course_ids: Sequence[uuid.UUID] | None = None) -> bool:
    """``Assistant.ask`` as ``POST /rag/ask`` runs it (a student, no course filter): did it answer?"""
    from smartcourse.principal import Principal
    from smartcourse_ai.providers.base import Mode

    caller = Principal(user_id=uuid.uuid4(), roles=frozenset({"student"}))
    return bool(assistant.ask(caller, question, course_ids, Mode.STUDENT).answer.knows)


# ---------------------------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Retrieved:
    """Per answerable question: gold key, the lexical and vector rankings, the hybrid hits (all candidates)."""

    question: Question
    gold: Key
    vector: Any
    lexical: list[Key]
    exact: list[Key]
    hits: list[Any]


@dataclass
class Evaluation:
    corpus_chunks: int
    chunk_tokens: int
    courses: int
    lexical_ranks: list[int | None]
    vector_ranks: list[int | None]
    hybrid_ranks: list[int | None]
    per_course: dict[str, tuple[int, float]]  # slug -> (questions, hybrid hit@5)
    on_topic: int
    off_topic: int
    off_dont_know_retrieval: int
    off_dont_know_ask: int
    false_refusals_retrieval: int
    false_refusals_ask: int
    threshold: float
    ask_ms: float
    window_row: str = ""
    sweep: list[str] = field(default_factory=list)

    @property
    def hybrid_hit(self) -> float:
        return hit_at(self.hybrid_ranks)

    @property
    def lexical_hit(self) -> float:
        return hit_at(self.lexical_ranks)


def retrieve_all(corpus: Corpus, assistant: Any, questions: Sequence[Question],
                 rankings: bool = True) -> list[Retrieved]:
    out = []
    for q in questions:
        gold = q.gold_key(corpus)
        assert gold is not None
        vector, hits = hybrid_hits(assistant, q.text, corpus.course_ids)
        lexical = lexical_ranking(corpus.engine, q.text, corpus.course_ids) if rankings else []
        exact = vector_ranking(corpus.engine, vector, corpus.course_ids) if rankings else []
        out.append(Retrieved(q, gold, vector, lexical, exact, hits))
    return out


def evaluate(corpus: Corpus, embedder: Any, *, sweep: bool = False) -> Evaluation:
    from smartcourse_ai import retrieval

    on, off = load_questions()
    assistant = make_assistant(corpus.engine, embedder)
    retrieved = retrieve_all(corpus, assistant, on)
    hybrid = [rank_of(keys(r.hits), r.gold) for r in retrieved]
    per_course: dict[str, tuple[int, float]] = {}
    for slug in corpus.courses:
        ranks = [h for h, r in zip(hybrid, retrieved, strict=True) if r.question.course == slug]
        per_course[slug] = (len(ranks), hit_at(ranks))
    off_hits = [hybrid_hits(assistant, q.text, corpus.course_ids)[1] for q in off]
    started = time.perf_counter()
    off_knows = [ask_knows(assistant, q.text) for q in off]
    on_knows = [ask_knows(assistant, r.question.text) for r in retrieved]
    ask_ms = (time.perf_counter() - started) * 1000 / (len(off) + len(on))
    evaluation = Evaluation(
        corpus_chunks=corpus.chunks, chunk_tokens=corpus.chunk_tokens, courses=len(corpus.courses),
        lexical_ranks=[rank_of(r.lexical, r.gold) for r in retrieved],
        vector_ranks=[rank_of(r.exact, r.gold) for r in retrieved], hybrid_ranks=hybrid, per_course=per_course,
        on_topic=len(on), off_topic=len(off),
        off_dont_know_retrieval=sum(dont_know(h) for h in off_hits), off_dont_know_ask=sum(not k for k in off_knows),
        false_refusals_retrieval=sum(dont_know(r.hits) for r in retrieved),
        false_refusals_ask=sum(not k for k in on_knows), threshold=retrieval.DEFAULT_THRESHOLD, ask_ms=ask_ms,
        window_row=window_row(corpus, retrieved, off_hits))
    if sweep:
        evaluation.sweep = sweep_constants(corpus, assistant, retrieved, off)
    return evaluation


# ---------------------------------------------------------------------------------------------------------------
# The sweep: the fusion constants and the candidates (one index), then the chunk window (re-indexing)
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def constants(**values: float) -> Iterator[None]:
    """Patch ``smartcourse_ai.retrieval``'s module constants (``VECTOR_WEIGHT`` also sets ``TEXT_WEIGHT``):
    the production ``fuse``/``relevance`` read them at call time."""
    from smartcourse_ai import retrieval

    patches = dict(values)
    if "VECTOR_WEIGHT" in patches:
        patches["TEXT_WEIGHT"] = 1.0 - patches["VECTOR_WEIGHT"]
    with contextlib.ExitStack() as stack:
        for name, value in patches.items():
            stack.enter_context(mock.patch.object(retrieval, name, value))
        yield


def _candidates_hits(corpus: Corpus, retrieved: Sequence[Retrieved], candidates: int) -> list[list[Any]]:
    from smartcourse_ai import search_repository

    out = []
    for r in retrieved:
        with corpus.engine.begin() as conn:
            search_repository.prepare(conn)
            out.append(search_repository.search(conn, r.vector, r.question.text, corpus.course_ids,
                                                candidates=candidates))
    return out


def _threshold_for(on_top: Sequence[float], off_top: Sequence[float], goal: float = OFF_TOPIC_GOAL) -> float:
    """The lowest relevance threshold (on a 0.01 grid) that refuses at least ``goal`` of the off-topic set."""
    for step in range(0, 101):
        threshold = step / 100
        if sum(s < threshold for s in off_top) >= goal * len(off_top):
            return threshold
    return 1.0


def sweep_constants(corpus: Corpus, assistant: Any, retrieved: Sequence[Retrieved],
                    off: Sequence[Question]) -> list[str]:
    """Markdown lines: hybrid hit@5 / MRR@10 by vector weight and candidates; the refusal trade-off by threshold."""
    from smartcourse_ai import retrieval

    off_retrieved = []
    for q in off:
        vector, hits = hybrid_hits(assistant, q.text, corpus.course_ids)
        off_retrieved.append(Retrieved(q, (uuid.UUID(int=0), ""), vector, [], [], hits))
    lines = ["", "### Sweep", "",
             f"On the same index ({corpus.chunks} chunks of ≤ {corpus.chunk_tokens} tokens), scores recomputed by the "
             "production `Hit.score` with `smartcourse_ai.retrieval`'s constants patched. *Threshold for 95 %*: the "
             "lowest relevance threshold refusing ≥ 95 % of the off-topic questions with that fusion (floor and "
             "ceiling unchanged); *false refusals*: the answerable questions it refuses too.", "",
             "| vector weight | hybrid hit@5 | MRR@10 | max off-topic relevance | threshold for 95 % "
             "| false refusals there |",
             "|---:|---:|---:|---:|---:|---:|"]
    current_weight = retrieval.VECTOR_WEIGHT
    for weight in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        with constants(VECTOR_WEIGHT=weight):
            ranks = [rank_of(keys(rerank(r.hits)), r.gold) for r in retrieved]
            on_top = [top_score(r.hits) for r in retrieved]
            off_top = [top_score(r.hits) for r in off_retrieved]
            threshold = _threshold_for(on_top, off_top)
            refused = sum(s < threshold for s in on_top)
            current = " (current)" if abs(weight - current_weight) < 1e-9 else ""
            lines.append(f"| {weight:.1f}{current} | {hit_at(ranks):.3f} | {mrr(ranks):.3f} | {max(off_top):.2f} | "
                         f"{threshold:.2f} | {refused}/{len(on_top)} |")
    by_candidates = []
    for candidates in (10, 20, retrieval.CANDIDATES, 80):
        hits = [r.hits for r in retrieved] if candidates == retrieval.CANDIDATES \
            else _candidates_hits(corpus, retrieved, candidates)
        ranks = [rank_of(keys(rerank(h)), r.gold) for h, r in zip(hits, retrieved, strict=True)]
        by_candidates.append(f"{candidates}: {hit_at(ranks):.3f} / {mrr(ranks):.3f}")
    lines += ["", "Candidates per side (hybrid hit@5 / MRR@10): " + "; ".join(by_candidates)
              + f" (a corpus of {corpus.chunks} chunks: a few dozen candidates already hold every plausible one)."]
    on_top = [top_score(r.hits) for r in retrieved]
    off_top = [top_score(r.hits) for r in off_retrieved]
    lines += ["", f"The refusal trade-off at the current fusion (vector weight {retrieval.VECTOR_WEIGHT}, floor "
              f"{retrieval.FUSED_FLOOR}, ceiling {retrieval.FUSED_CEILING}), by relevance threshold (nothing "
              "retrieved at or above it):", "",
              "| threshold | off-topic refused | answerable refused (false refusals) |", "|---:|---:|---:|"]
    for threshold in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        current = " (default)" if abs(threshold - retrieval.DEFAULT_THRESHOLD) < 1e-9 else ""
        lines.append(f"| {threshold:.2f}{current} | {sum(s < threshold for s in off_top)}/{len(off_top)} | "
                     f"{sum(s < threshold for s in on_top)}/{len(on_top)} |")
    lines += ["", "Relevance of the best hit: answerable questions median "
              f"{statistics.median(on_top):.2f} (min {min(on_top):.2f}); off-topic median "
              f"{statistics.median(off_top):.2f} (max {max(off_top):.2f})."]
    return lines


def sweep_chunk_window(server: Any, embedder: Any, windows: Sequence[int],
                       measured: dict[int, str] | None = None) -> list[str]:
    """Markdown lines: the rankings and refusals with the courses re-indexed at each chunk window (``measured``:
    rows already measured, by window)."""
    from smartcourse_ai import retrieval

    rows = dict(measured or {})

    on, off = load_questions()
    lines = ["", "Chunk window: the courses re-indexed (`Indexer(chunk_tokens=…)`) into a fresh database each time, "
             f"current fusion constants, refusals at the default threshold ({retrieval.DEFAULT_THRESHOLD}):", "",
             "| window (tokens) | chunks | lexical hit@5 | vector hit@5 | hybrid hit@5 | hybrid MRR@10 "
             "| off-topic refused | false refusals |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for window in windows:
        if window in rows:
            continue
        engine = connect(ai_database(server))
        try:
            corpus = index_courses(engine, embedder, evaluation_courses(), chunk_tokens=window)
            assistant = make_assistant(engine, embedder)
            retrieved = retrieve_all(corpus, assistant, on)
            off_hits = [hybrid_hits(assistant, q.text, corpus.course_ids)[1] for q in off]
            rows[window] = window_row(corpus, retrieved, off_hits)
        finally:
            engine.dispose()
    return lines + [rows[w] for w in sorted(rows)]


def window_row(corpus: Corpus, retrieved: Sequence[Retrieved], off_hits: Sequence[Sequence[Any]]) -> str:
    hybrid = [rank_of(keys(r.hits), r.gold) for r in retrieved]
    return (f"| {corpus.chunk_tokens} | {corpus.chunks} | {hit_at([rank_of(r.lexical, r.gold) for r in retrieved]):.3f}"
            f" | {hit_at([rank_of(r.exact, r.gold) for r in retrieved]):.3f} | {hit_at(hybrid):.3f} | "
            f"{mrr(hybrid):.3f} | {sum(dont_know(h) for h in off_hits)}/{len(off_hits)} | "
            f"{sum(dont_know(r.hits) for r in retrieved)}/{len(retrieved)} |")


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def render(e: Evaluation, index_seconds: float) -> str:
    from smartcourse_ai import retrieval

    hybrid, lexical = e.hybrid_hit, e.lexical_hit
    off_rate = e.off_dont_know_ask / e.off_topic if e.off_topic else 0.0
    lines = [
        "",
        SECTION_HEADING,
        "",
        f"`python -m tests.benchmarks.ai_eval` (`make bench-ai`): the {e.courses} evaluation courses "
        "(tests/fixtures/ai/courses) indexed in process into a fresh AI database (pgvector) by the consumer's plan "
        f"and the index worker's `Indexer` ({e.corpus_chunks} chunks of ≤ {e.chunk_tokens} tokens, "
        f"{index_seconds:.0f} s), then {e.on_topic} answerable and {e.off_topic} off-topic questions "
        "(tests/fixtures/ai/questions.json), each asked over all three courses at once. A hit is a chunk of the "
        f"gold section (module{SEP}asset{SEP}heading; module{SEP}asset for a video). *Lexical*: any-term full text "
        "ranked by `ts_rank_cd` (the hybrid query's text side alone); *vector*: exact cosine over every chunk; "
        "*hybrid*: the production retrieval (`search_repository.search`, ranked by `Hit.score`: vector weight "
        f"{retrieval.VECTOR_WEIGHT}, {retrieval.CANDIDATES} candidates per side).",
        "",
        "| Method | hit@5 | MRR@10 |",
        "|---|---:|---:|",
        f"| lexical (full text) | {lexical:.3f} | {mrr(e.lexical_ranks):.3f} |",
        f"| vector (cosine) | {hit_at(e.vector_ranks):.3f} | {mrr(e.vector_ranks):.3f} |",
        f"| **hybrid (production)** | **{hybrid:.3f}** | **{mrr(e.hybrid_ranks):.3f}** |",
        "",
        "Hybrid hit@5 per course: " + ", ".join(f"{slug} {rate:.3f} ({n} questions)"
                                                for slug, (n, rate) in e.per_course.items()) + ".",
        "",
        f"At the default relevance threshold ({e.threshold}), through `Assistant.ask` (retrieval, threshold, "
        f"extractive answer; {e.ask_ms:.0f} ms per question in process):",
        "",
        "| | questions | \"I don't know\" | rate |",
        "|---|---:|---:|---:|",
        f"| off-topic | {e.off_topic} | {e.off_dont_know_ask} | {off_rate:.1%} |",
        f"| answerable (false refusals) | {e.on_topic} | {e.false_refusals_ask} | "
        f"{e.false_refusals_ask / e.on_topic if e.on_topic else 0:.1%} |",
        "",
        f"(Retrieval alone, nothing at or above the threshold: off-topic {e.off_dont_know_retrieval}/{e.off_topic}, "
        f"answerable {e.false_refusals_retrieval}/{e.on_topic}.)",
        "",
        f"Goals: hybrid hit@5 ≥ {HYBRID_HIT_GOAL} — {hybrid:.3f}, {_met(hybrid >= HYBRID_HIT_GOAL)}; hybrid ≥ "
        f"lexical + {HYBRID_MARGIN_GOAL:.2f} — +{hybrid - lexical:.3f}, "
        f"{_met(hybrid >= lexical + HYBRID_MARGIN_GOAL - 1e-9)}; off-topic \"I don't know\" ≥ {OFF_TOPIC_GOAL:.0%} — "
        f"{off_rate:.1%}, {_met(off_rate >= OFF_TOPIC_GOAL)}.",
    ]
    lines += e.sweep
    return "\n".join(lines) + "\n"


def run(*, sweep: bool | None = None, windows: Sequence[int] | None = None,
        log: Callable[[str], None] = print) -> str:
    """Index, evaluate and return the markdown section (also printed). ``sweep`` adds the constants' sweep
    (default: ``AI_EVAL_SWEEP`` != "0"); ``windows`` the chunk windows to re-index with (``AI_EVAL_WINDOWS``)."""
    if sweep is None:
        sweep = os.environ.get("AI_EVAL_SWEEP", "1") != "0"
    if windows is None:
        windows = [int(w) for w in os.environ.get("AI_EVAL_WINDOWS", DEFAULT_WINDOWS).split(",") if w.strip()]
        windows = windows if sweep else []
    embedder = default_embedder()
    with postgres_server() as server:
        url = ai_database(server)
        engine = connect(url)
        try:
            with eval_environment(url):
                log("ai-eval: indexing the evaluation courses…")
                corpus = index_courses(engine, embedder, evaluation_courses())
                log(f"ai-eval: {corpus.chunks} chunks in {corpus.index_seconds:.1f} s; evaluating…")
                evaluation = evaluate(corpus, embedder, sweep=sweep)
                if windows:
                    log(f"ai-eval: chunk windows {list(windows)}…")
                    evaluation.sweep += sweep_chunk_window(server, embedder, windows,
                                                           {corpus.chunk_tokens: evaluation.window_row})
        finally:
            engine.dispose()
    section = render(evaluation, corpus.index_seconds)
    log(section)
    return section


if __name__ == "__main__":
    run()
    sys.exit(0)
