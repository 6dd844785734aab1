"""Indexing against a real AI database (pgvector) and the AWS emulator's S3, in process: the consumer's plan,
each asset's job, the run's end and its event, unchanged assets, failures, archive, and hybrid search."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from smartcourse.db.engine import normalise_url
from smartcourse_ai.indexing.chunking import heading_path
from smartcourse_events.registry import build_event
from sqlalchemy import Engine, create_engine, func, select, text

from tests.support.ai import PublishedCourse, document, evaluation_courses, heading, paragraph, published_course

pytestmark = pytest.mark.integration

BUCKET = "ai-indexing-content"


@pytest.fixture(scope="module")
def ai_url(postgres: Any) -> str:
    from smartcourse.db.migrate import upgrade

    url = postgres.database_url(f"aiidx_{uuid.uuid4().hex[:10]}")
    upgrade(url, service="ai")
    return url


@pytest.fixture(scope="module")
def db(ai_url: str) -> Iterator[Engine]:
    eng = create_engine(normalise_url(ai_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def s3(moto: Any) -> Any:
    import boto3

    client = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def embedder() -> Any:
    from smartcourse_ai.providers.onnx_embedder import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(autouse=True)
def env(ai_url: str, s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from smartcourse import storage
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", ai_url)
    monkeypatch.setenv("DB_NAME", "smartcourse_ai")
    monkeypatch.setenv("SERVICE_NAME", "ai")
    monkeypatch.setenv("CONTENT_BUCKET", BUCKET)

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        storage.reset_client()

    reset()
    yield
    reset()


class Pipeline:
    """The consumer's effects and the index worker's indexer, with the job queue as a list."""

    def __init__(self, db: Engine, embedder: Any, s3: Any) -> None:
        from smartcourse.db.engine import get_engine
        from smartcourse_ai.consumer import make_effects
        from smartcourse_ai.indexing.service import Indexer
        from smartcourse_ai.providers.extractive import ExtractiveGenerator
        from smartcourse_ai.service import _read_content

        self.db, self.s3 = db, s3
        self.jobs: list[Any] = []
        self.effects = make_effects(lambda: embedder.model, enqueue=self.jobs.extend)
        generator = ExtractiveGenerator()
        self.indexer = Indexer(get_engine, embedder, lambda: generator, _read_content)

    def upload(self, course: PublishedCourse) -> None:
        for key, data in course.documents.items():
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="application/json")

    def publish(self, course: PublishedCourse) -> Any:
        envelope = build_event(course.payload, event_type="course.published", producer="lms")
        with self.db.begin() as conn:
            self.effects["course.published"](envelope, conn)
        return envelope

    def archive(self, course: PublishedCourse) -> None:
        envelope = build_event({"course_id": str(course.course_id)}, event_type="course.archived", producer="lms")
        with self.db.begin() as conn:
            self.effects["course.archived"](envelope, conn)

    def drain(self) -> list[Any]:
        statuses = []
        while self.jobs:
            statuses.append(self.indexer.run_job(self.jobs.pop(0)))
        return statuses


@pytest.fixture
def pipeline(db: Engine, embedder: Any, s3: Any) -> Pipeline:
    return Pipeline(db, embedder, s3)


def run_row(db: Engine, course_id: uuid.UUID) -> Any:
    with db.connect() as conn:
        return conn.execute(text("SELECT * FROM course_index WHERE course_id = :c"), {"c": course_id}).one()


def outbox_events(db: Engine, course_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT event_type, envelope FROM outbox WHERE aggregate_id = :c ORDER BY id"),
                            {"c": course_id}).all()
    return [(r[0], r[1]["payload"]) for r in rows]


def small_course(**extra: Any) -> PublishedCourse:
    spec = {"title": "Gardening basics", "description": "Soil, water and light.", "modules": [
        {"title": "Soil", "assets": [
            {"title": "Compost", "asset_type": "article", "document": document(
                heading("Why compost"), paragraph("Compost feeds the soil with organic matter. " * 8),
                heading("Hot and cold piles"), paragraph("A hot pile reaches sixty degrees in a week. " * 8))},
            {"title": "Watering video", "asset_type": "video", "description": "How often to water tomatoes.",
             "source_url": "https://videos.example.com/w"},
        ]}]}
    return published_course(spec, **extra)


def test_a_published_course_is_indexed_by_one_job_per_asset_and_ends_with_its_event(
        pipeline: Pipeline, db: Engine) -> None:
    course = small_course()
    pipeline.upload(course)
    pipeline.publish(course)
    assert len(pipeline.jobs) == 2
    assert run_row(db, course.course_id).status == "processing"
    statuses = pipeline.drain()
    assert [s.value for s in statuses] == ["indexed", "indexed"]
    row = run_row(db, course.course_id)
    assert row.status == "ready" and row.assets_done == row.assets_total == 2
    assert row.chunks >= 3 and row.embeddings == row.chunks and row.summary and row.key_topics
    assert row.estimated_minutes >= 1 and row.embedding_model == "all-MiniLM-L6-v2-int8"
    with db.connect() as conn:
        paths = [r[0] for r in conn.execute(text(
            "SELECT heading_path FROM chunks WHERE course_id = :c ORDER BY heading_path"), {"c": course.course_id})]
    assert heading_path("Soil", "Compost", "Hot and cold piles") in paths
    assert heading_path("Soil", "Watering video") in paths
    assert outbox_events(db, course.course_id) == [("course.processing_completed", {
        "course_id": str(course.course_id), "chunks": row.chunks, "embeddings": row.chunks, "summary_ready": True})]


def test_republishing_unchanged_content_embeds_nothing_and_a_redelivered_job_counts_once(
        pipeline: Pipeline, db: Engine) -> None:
    course = small_course()
    pipeline.upload(course)
    pipeline.publish(course)
    first_jobs = list(pipeline.jobs)
    pipeline.drain()
    with db.connect() as conn:
        before: dict[Any, Any] = dict(conn.execute(text("SELECT id, embedding::text FROM chunks WHERE course_id = :c"),
                                                   {"c": course.course_id}).all())
    assert pipeline.indexer.run_job(first_jobs[0]) is None  # the same job again: nothing happens
    pipeline.publish(course)
    assert [s.value for s in pipeline.drain()] == ["unchanged", "unchanged"]
    with db.connect() as conn:
        after: dict[Any, Any] = dict(conn.execute(text("SELECT id, embedding::text FROM chunks WHERE course_id = :c"),
                                                  {"c": course.course_id}).all())
    assert after == before
    assert [e for e, _ in outbox_events(db, course.course_id)] == ["course.processing_completed"] * 2


def test_a_missing_or_corrupt_article_fails_alone_and_the_rest_still_indexes(pipeline: Pipeline, db: Engine) -> None:
    course = small_course()
    # Nothing uploaded: the article's object is missing; the video still indexes.
    pipeline.publish(course)
    assert sorted(s.value for s in pipeline.drain()) == ["failed", "indexed"]
    row = run_row(db, course.course_id)
    assert row.status == "ready" and "content object missing" in row.last_error
    # A corrupt document, then every asset failing: processing_failed with the error.
    lonely = published_course({"title": "Broken", "modules": [{"title": "M", "assets": [
        {"title": "Bad", "asset_type": "article", "document": {}}]}]})
    pipeline.s3.put_object(Bucket=BUCKET, Key=next(iter(lonely.documents)), Body=b"{not json")
    pipeline.publish(lonely)
    assert [s.value for s in pipeline.drain()] == ["failed"]
    row = run_row(db, lonely.course_id)
    assert row.status == "failed" and "not a valid editor document" in row.last_error
    [(event_type, payload)] = outbox_events(db, lonely.course_id)
    assert event_type == "course.processing_failed" and "not a valid editor document" in payload["error"]


def test_archive_removes_the_course_from_search_at_once(pipeline: Pipeline, db: Engine) -> None:
    course = small_course()
    pipeline.upload(course)
    pipeline.publish(course)
    pipeline.drain()
    pipeline.archive(course)
    with db.connect() as conn:
        left = conn.execute(select(func.count()).select_from(text("chunks")).where(
            text("course_id = :c")), {"c": course.course_id}).scalar()
    assert left == 0 and run_row(db, course.course_id).status == "not_indexed"


def test_a_job_of_a_replaced_run_is_dropped(pipeline: Pipeline) -> None:
    from smartcourse_ai.indexing.jobs import StaleJob

    course = small_course()
    pipeline.upload(course)
    pipeline.publish(course)
    old = list(pipeline.jobs)
    pipeline.jobs.clear()
    pipeline.publish(course)
    with pytest.raises(StaleJob):
        pipeline.indexer.run_job(old[0])
    pipeline.drain()


def test_hybrid_search_finds_a_paraphrased_question(pipeline: Pipeline, db: Engine, embedder: Any) -> None:
    from smartcourse_ai import search_repository

    spec = evaluation_courses()["web-security"]
    course = published_course(spec)
    pipeline.upload(course)
    pipeline.publish(course)
    pipeline.drain()
    assert run_row(db, course.course_id).status == "ready"
    question = "someone posted a comment and now a stranger's script runs in visitors' browsers"
    with db.begin() as conn:
        search_repository.prepare(conn)
        hits = search_repository.search(conn, embedder.embed([question])[0], question, [course.course_id])
    hits.sort(key=lambda h: -h.score)
    assert "Cross-Site Scripting" in hits[0].heading_path and hits[0].score > 0.3


def test_an_archive_while_an_asset_is_embedded_wins(pipeline: Pipeline, db: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse_ai.indexing.jobs import StaleJob

    course = small_course()
    pipeline.upload(course)
    pipeline.publish(course)
    index = pipeline.indexer._index

    def index_then_archive(asset: Any, *, force: bool) -> Any:
        result = index(asset, force=force)
        pipeline.archive(course)  # committed between the job's read and its write
        return result

    monkeypatch.setattr(pipeline.indexer, "_index", index_then_archive)
    with pytest.raises(StaleJob):
        pipeline.indexer.run_job(pipeline.jobs.pop(0))
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM chunks WHERE course_id = :c"),
                            {"c": course.course_id}).scalar_one() == 0
    assert outbox_events(db, course.course_id) == []
    pipeline.jobs.clear()


def test_a_failure_while_recording_on_the_last_attempt_still_ends_the_run(pipeline: Pipeline, db: Engine,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse_ai import repository

    course = published_course({"title": "One video", "modules": [{"title": "M", "assets": [
        {"title": "Clip", "asset_type": "video", "description": "A clip.", "source_url": "https://v/1"}]}]})
    pipeline.publish(course)
    [job] = pipeline.jobs
    pipeline.jobs.clear()
    replace = repository.replace_chunks

    def broken(conn: Any, asset_id: Any, rows: Any) -> None:
        if list(rows):
            raise RuntimeError("disk full")
        replace(conn, asset_id, [])

    monkeypatch.setattr(repository, "replace_chunks", broken)
    with pytest.raises(RuntimeError):
        pipeline.indexer.run_job(job)  # not the last attempt: SQS retries it
    assert run_row(db, course.course_id).status == "processing"
    assert pipeline.indexer.run_job(job, last_attempt=True).value == "failed"
    row = run_row(db, course.course_id)
    assert row.status == "failed" and "RuntimeError" in row.last_error
    assert [e for e, _ in outbox_events(db, course.course_id)] == ["course.processing_failed"]


def test_a_renamed_module_is_indexed_again_with_its_new_heading_path(pipeline: Pipeline, db: Engine) -> None:
    course = small_course()
    pipeline.upload(course)
    pipeline.publish(course)
    pipeline.drain()
    course.payload["modules"][0]["title"] = "Soil science"
    pipeline.publish(course)
    assert [s.value for s in pipeline.drain()] == ["indexed", "indexed"]
    with db.connect() as conn:
        paths = {r[0] for r in conn.execute(text("SELECT heading_path FROM chunks WHERE course_id = :c"),
                                            {"c": course.course_id})}
    assert paths and all(p.startswith("Soil science") for p in paths)


def test_an_embedder_that_fails_is_a_503_and_sentences_are_then_ranked_by_words(db: Engine) -> None:
    from smartcourse.db.engine import get_engine
    from smartcourse.errors import Unavailable
    from smartcourse.principal import Principal
    from smartcourse_ai.assistant import Assistant
    from smartcourse_ai.providers.base import Mode
    from smartcourse_ai.providers.extractive import ExtractiveGenerator
    from smartcourse_ai.providers.registry import embedding_scorer

    class Down:
        model, dimensions, max_tokens = "remote", 384, 256

        def embed(self, texts: Any) -> Any:
            raise ConnectionError("endpoint down")

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    assistant = Assistant(get_engine, Down, ExtractiveGenerator)
    with pytest.raises(Unavailable):
        assistant.ask(Principal(uuid.uuid4(), frozenset({"student"})), "what is compost", None, Mode.STUDENT)
    scores = embedding_scorer(Down())("compost soil", ["Compost feeds the soil.", "Tomatoes need sun."])
    assert scores[0] > scores[1] == 0
