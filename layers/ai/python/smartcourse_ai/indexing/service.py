"""Indexing runs: a course's plan (one job per asset), each asset's job, and the run's end.

A run is planned in the consumer's transaction (``course.published``) or by ``generate-embeddings``; its
jobs go to the index queue, and each job indexes one asset in its own invocation of ``ai-index-asset``, so a
course of any size indexes within Lambda's limits. The job that finishes the run's last asset computes the
course digest (summary, key topics, minutes, centroid) and emits ``course.processing_completed`` or
``course.processing_failed`` through the AI's outbox, in the same transaction.

Idempotency: chunk ids derive from (asset, content hash, model, index); a job marks its asset done for its
run once (``done_run_id``), so a redelivered job neither embeds nor counts twice; an unchanged asset (same
content hash and model) keeps its chunks unless the run is forced.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.observability import logger
from smartcourse.storage import ObjectNotFound, ObjectTooLarge
from sqlalchemy import Connection, Engine

from smartcourse_ai import repository as repo
from smartcourse_ai.domain import AssetIndexStatus, IndexStatus, chunk_id, estimated_minutes
from smartcourse_ai.indexing.chunking import Chunk, chunk_sections, media_chunks
from smartcourse_ai.indexing.documents import CorruptDocument, document_words, parse_document
from smartcourse_ai.indexing.jobs import IndexJob, RunNotCommitted, StaleJob
from smartcourse_ai.providers.base import Embedder, Generator, Passage

ARTICLE = "article"
# Chunks of at most 128 tokens (the embedder reads 256): measured on the evaluation set, hybrid hit@5 0.953 against
# 0.924 with 256-token chunks, fewer false refusals, and more chunks embedded per second (docs/benchmarks.md).
CHUNK_TOKENS = 128
DIGEST_MAX_CHUNKS = 400  # the digest reads the course's first chunks: enough for a summary, bounded in time
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class PlannedAsset:
    asset_id: uuid.UUID
    module_id: uuid.UUID
    module_title: str
    title: str
    asset_type: str
    description: str | None
    source_url: str | None
    content_key: str | None


def planned_assets(modules: Sequence[Any]) -> list[PlannedAsset]:
    """The assets of a ``course.published`` payload's modules, in course order."""
    return [PlannedAsset(asset_id=a.asset_id, module_id=m.module_id, module_title=m.title, title=a.title,
                         asset_type=a.asset_type, description=getattr(a, "description", None),
                         source_url=a.source_url, content_key=a.content_key)
            for m in modules for a in m.assets]


def plan_run(conn: Connection, course_id: uuid.UUID, run_id: uuid.UUID, planned: Sequence[PlannedAsset], *,
             force: bool, embedding_model: str, now: datetime | None = None) -> list[IndexJob]:
    """Record a new run of ``planned`` (replacing any run in progress) and return its jobs."""
    planned_at = now or datetime.now(UTC)
    repo.plan_assets(conn, course_id, run_id, [
        {"asset_id": a.asset_id, "module_id": a.module_id, "module_title": a.module_title[:1000],
         "position": position, "title": a.title[:1000], "asset_type": a.asset_type,
         "description": a.description, "source_url": a.source_url, "content_key": a.content_key}
        for position, a in enumerate(planned)])
    repo.start_run(conn, course_id, run_id, force=force, total=len(planned), embedding_model=embedding_model)
    return [IndexJob(course_id=course_id, asset_id=a.asset_id, run_id=run_id, planned_at=planned_at, force=force)
            for a in planned]


@dataclass(frozen=True)
class AssetResult:
    status: AssetIndexStatus
    content_hash: str | None = None
    chunks: tuple[Chunk, ...] = ()
    vectors: Any = None
    words: int = 0
    error: str | None = None


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Indexer:
    def __init__(self, engine: Callable[[], Engine], embedder: Embedder, generator: Callable[[], Generator],
                 read_object: Callable[[str], bytes], *, chunk_tokens: int | None = None) -> None:
        self._engine = engine
        self._embedder = embedder
        self._generator = generator
        self._read_object = read_object
        self._chunk_tokens = chunk_tokens

    @property
    def chunk_tokens(self) -> int:
        return min(self._chunk_tokens or CHUNK_TOKENS, self._embedder.max_tokens)

    # --- one asset -------------------------------------------------------------------------------------------

    def run_job(self, job: IndexJob, *, last_attempt: bool = False) -> AssetIndexStatus | None:
        """Index the job's asset; the status it ended with, or None for a duplicate. Raises ``StaleJob``,
        ``RunNotCommitted``, or a transient error (retried by SQS) unless this is the ``last_attempt``."""
        with self._engine().connect() as conn:
            asset, run = self._current(conn, job)
        if asset.done_run_id == job.run_id:
            return None
        try:
            result = self._index(asset, force=job.force or run.force)
        except Exception as exc:
            if not last_attempt:
                raise
            logger.exception("index job failed on its last attempt", extra={"asset_id": str(job.asset_id)})
            result = AssetResult(AssetIndexStatus.FAILED, error=f"indexing failed: {type(exc).__name__}")
        try:
            return self._record(job, asset, result)
        except StaleJob:
            raise
        except Exception as exc:
            if not last_attempt:
                raise
            # The run must still end: record the asset as failed (and, when it was the last, the run as failed).
            logger.exception("recording an indexed asset failed on its last attempt",
                             extra={"asset_id": str(job.asset_id)})
            failed = AssetResult(AssetIndexStatus.FAILED, error=f"indexing failed: {type(exc).__name__}")
            return self._record(job, asset, failed, digest=False)

    def _current(self, conn: Connection, job: IndexJob) -> tuple[repo.AssetRecord, repo.RunRecord]:
        run = repo.get_run(conn, job.course_id)
        course = repo.get_course(conn, job.course_id)
        if run is None or run.run_id != job.run_id:
            if run is not None and run.started_at >= job.planned_at:
                raise StaleJob(f"run {job.run_id} was replaced by {run.run_id}")
            raise RunNotCommitted(f"run {job.run_id} of course {job.course_id} is not there yet")
        if course is None or not course.published:
            raise StaleJob(f"course {job.course_id} is not published")
        asset = repo.get_asset(conn, job.asset_id)
        if asset is None or asset.run_id != job.run_id:
            raise StaleJob(f"asset {job.asset_id} is not part of run {job.run_id}")
        return asset, run

    def _index(self, asset: repo.AssetRecord, *, force: bool) -> AssetResult:
        model = self._embedder.model
        base = (asset.module_title, asset.title)
        if asset.asset_type == ARTICLE and asset.content_key:
            try:
                data = self._read_object(asset.content_key)
            except ObjectNotFound:
                return AssetResult(AssetIndexStatus.FAILED, error=f"content object missing: {asset.content_key}")
            except ObjectTooLarge as exc:
                return AssetResult(AssetIndexStatus.FAILED, error=f"content object too large: {exc}")
            # The titles are in every chunk's heading path: a renamed module or article is re-indexed.
            digest = _hash(data + "\x00".join(base).encode())
            if self._unchanged(asset, digest, model, force):
                return AssetResult(AssetIndexStatus.UNCHANGED, content_hash=digest, words=asset.words)
            try:
                sections = parse_document(data)
            except CorruptDocument as exc:
                return AssetResult(AssetIndexStatus.FAILED, content_hash=digest,
                                   error=f"content is not a valid editor document: {exc}"[:MAX_ERROR_CHARS])
            chunks = chunk_sections(sections, base, self._embedder.count_tokens, self.chunk_tokens)
            words = document_words(sections)
        else:
            text = f"{asset.module_title}\n{asset.title}\n{asset.description or ''}"
            digest = _hash(text.encode())
            if self._unchanged(asset, digest, model, force):
                return AssetResult(AssetIndexStatus.UNCHANGED, content_hash=digest)
            chunks = media_chunks(base, asset.title, asset.description, self._embedder.count_tokens,
                                  self.chunk_tokens)
            words = 0
        vectors = self._embedder.embed([c.embedded_text for c in chunks])
        return AssetResult(AssetIndexStatus.INDEXED, content_hash=digest, chunks=tuple(chunks), vectors=vectors,
                           words=words)

    @staticmethod
    def _unchanged(asset: repo.AssetRecord, digest: str, model: str, force: bool) -> bool:
        return (not force and asset.content_hash == digest and asset.embedding_model == model
                and asset.chunks > 0)

    def _record(self, job: IndexJob, asset: repo.AssetRecord, result: AssetResult, *,
                digest: bool = True) -> AssetIndexStatus | None:
        model = self._embedder.model
        with UnitOfWork(self._engine(), producer="ai") as uow:
            conn = uow.connection
            # The course row first, as the consumer's re-publish and archive lock it (one lock order, no
            # deadlock); then the run row: jobs of one course serialise there, the last one sees every other's work.
            course = repo.lock_course(conn, job.course_id)
            if course is None or not course.published:
                raise StaleJob(f"course {job.course_id} was archived while asset {job.asset_id} was indexed")
            run = repo.get_run(conn, job.course_id, lock=True)
            if run is None or run.run_id != job.run_id:
                raise StaleJob(f"run {job.run_id} was replaced while asset {job.asset_id} was indexed")
            values: dict[str, Any] = {"status": result.status.value, "last_error": result.error}
            if result.status is AssetIndexStatus.INDEXED:
                rows = [{"id": chunk_id(asset.asset_id, result.content_hash or "", model, c.index),
                         "course_id": asset.course_id, "asset_id": asset.asset_id, "module_id": asset.module_id,
                         "chunk_index": c.index, "heading_path": c.heading_path, "content": c.content,
                         "content_hash": result.content_hash, "token_count": c.token_count,
                         "embedding": result.vectors[i], "embedding_model": model}
                        for i, c in enumerate(result.chunks)]
                values |= {"content_hash": result.content_hash, "embedding_model": model, "chunks": len(rows),
                           "words": result.words}
            elif result.status is AssetIndexStatus.FAILED:
                values |= {"content_hash": None, "chunks": 0}
            if not repo.finish_asset(conn, asset.asset_id, job.run_id, **values):
                return None
            if result.status is AssetIndexStatus.INDEXED:
                repo.replace_chunks(conn, asset.asset_id, rows)
            elif result.status is AssetIndexStatus.FAILED:
                repo.replace_chunks(conn, asset.asset_id, [])
            counted = repo.count_done(conn, job.course_id, job.run_id)
            if counted is not None and counted[0] == counted[1]:
                if digest:
                    self._finish(uow, job.course_id, job.run_id)
                else:
                    self._fail_run(uow, job.course_id, job.run_id, result.error or "indexing failed")
            uow.commit()
        return result.status

    @staticmethod
    def _fail_run(uow: UnitOfWork, course_id: uuid.UUID, run_id: uuid.UUID, error: str) -> None:
        from smartcourse_events.course import CourseProcessingFailedV1

        now = datetime.now(UTC)
        repo.finish_run(uow.connection, course_id, run_id, status=IndexStatus.FAILED.value, last_error=error,
                        indexed_at=now)
        uow.emit(CourseProcessingFailedV1(course_id=course_id, error=error), occurred_at=now)

    # --- the run's end ---------------------------------------------------------------------------------------

    def _finish(self, uow: UnitOfWork, course_id: uuid.UUID, run_id: uuid.UUID) -> None:
        import numpy as np
        from smartcourse_events.course import CourseProcessingCompletedV1, CourseProcessingFailedV1

        conn = uow.connection
        course = repo.get_course(conn, course_id)
        assert course is not None
        course_assets = repo.course_assets(conn, course_id)
        failed = [a for a in course_assets if a.status == AssetIndexStatus.FAILED]
        problems = "; ".join(f"{a.title}: {a.last_error}" for a in failed)[:MAX_ERROR_CHARS] or None
        rows = repo.course_chunks(conn, course_id)
        now = datetime.now(UTC)
        if not rows:
            error = problems or "the course has no indexable content"
            repo.finish_run(conn, course_id, run_id, status=IndexStatus.FAILED.value, chunks=0, embeddings=0,
                            last_error=error, indexed_at=now, centroid=None)
            uow.emit(CourseProcessingFailedV1(course_id=course_id, error=error), occurred_at=now)
            return
        passages = [Passage(chunk_id=r.id, course_id=course_id, asset_id=r.asset_id, heading_path=r.heading_path,
                            content=r.content, score=1.0) for r in rows[:DIGEST_MAX_CHUNKS]]
        digest = self._generator().digest(course.title, passages)
        vectors = np.array([r.embedding for r in rows], dtype=np.float32)
        centroid = vectors.mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        words = sum(a.words for a in course_assets if a.asset_type == ARTICLE)
        media = sum(1 for a in course_assets if a.asset_type != ARTICLE)
        repo.finish_run(conn, course_id, run_id, status=IndexStatus.READY.value, chunks=len(rows),
                        embeddings=len(rows), last_error=problems, indexed_at=now, summary=digest.summary,
                        key_topics=list(digest.key_topics), estimated_minutes=estimated_minutes(words, media),
                        digest_model=digest.model, generated_at=now, centroid=centroid)
        uow.emit(CourseProcessingCompletedV1(course_id=course_id, chunks=len(rows), embeddings=len(rows),
                                             summary_ready=bool(digest.summary)), occurred_at=now)
