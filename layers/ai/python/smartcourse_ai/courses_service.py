"""Use cases of the AI API about a course or a user: summaries, indexing status and re-indexing, per-course
settings, content gaps, recommendations and usage."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartcourse.errors import Conflict, Forbidden, NotFound, ValidationFailed
from smartcourse.principal import Principal
from smartcourse.settings import get_settings
from sqlalchemy import Connection, Engine, select

from smartcourse_ai import repository as repo
from smartcourse_ai import usage
from smartcourse_ai.assistant import COURSE_NOT_FOUND, FEATURE_OFF, feature_enabled, settings_of
from smartcourse_ai.domain import CourseFeature, IndexStatus, is_course_staff
from smartcourse_ai.indexing.jobs import IndexJob
from smartcourse_ai.indexing.service import PlannedAsset, plan_run
from smartcourse_ai.tables import course_index, unanswered_questions

GAP_SIMILARITY = 0.75  # questions at least this close (cosine) are one gap
GAP_QUESTIONS = 500  # the most recent unanswered questions a gap report groups
GAP_EXAMPLES = 3
RECOMMENDATIONS = 10
SIMILARITY_WEIGHT = 0.7
MISSING_PREREQUISITE_FACTOR = 0.8


@dataclass(frozen=True)
class GapGroup:
    question: str
    count: int
    examples: list[str]
    last_asked_at: datetime


def _staff_course(conn: Connection, caller: Principal, course_id: uuid.UUID) -> repo.CourseRecord:
    course = repo.get_course(conn, course_id)
    if course is None:
        raise NotFound(COURSE_NOT_FOUND)
    if not is_course_staff(course.instructor_id, caller):
        raise Forbidden("Only the course's staff can do this")
    return course


def group_questions(rows: Sequence[Any]) -> list[GapGroup]:
    """Greedy grouping of (question, unit vector, asked_at) rows, newest first, by cosine similarity."""
    import numpy as np

    groups: list[dict[str, Any]] = []
    for question, vector, asked_at in rows:
        v = np.asarray(vector, dtype=np.float32)
        best = max(groups, key=lambda g: float(g["vector"] @ v), default=None)
        if best is not None and float(best["vector"] @ v) >= GAP_SIMILARITY:
            best["count"] += 1
            if question not in best["examples"] and len(best["examples"]) < GAP_EXAMPLES:
                best["examples"].append(question)
            continue
        groups.append({"question": question, "vector": v, "count": 1, "examples": [question], "last": asked_at})
    groups.sort(key=lambda g: (-g["count"], -g["last"].timestamp()))
    return [GapGroup(g["question"], g["count"], g["examples"], g["last"]) for g in groups]


class CourseAI:
    def __init__(self, engine: Callable[[], Engine], embedding_model: Callable[[], str],
                 enqueue: Callable[[Sequence[IndexJob]], None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._embedding_model = embedding_model
        self._enqueue = enqueue
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- summary and status ------------------------------------------------------------------------------------

    def summary(self, caller: Principal, course_id: uuid.UUID) -> repo.RunRecord:
        with self._engine().connect() as conn:
            course = repo.get_course(conn, course_id)
            if course is None or not course.published:
                raise NotFound(COURSE_NOT_FOUND)
            if not feature_enabled(conn, course_id, CourseFeature.SUMMARY):
                raise Forbidden(FEATURE_OFF.format(feature="The course summary"))
            run = repo.get_run(conn, course_id)
        if run is None or run.summary is None or run.generated_at is None:
            raise Conflict("The course summary is not ready yet: the course is still being indexed")
        return run

    def processing_status(self, caller: Principal, course_id: uuid.UUID) -> repo.RunRecord | None:
        with self._engine().connect() as conn:
            _staff_course(conn, caller, course_id)
            return repo.get_run(conn, course_id)

    def generate_embeddings(self, caller: Principal, course_id: uuid.UUID | None, force: bool) -> list[uuid.UUID]:
        if not caller.is_admin:
            raise Forbidden("Only admins can re-embed courses")
        model = self._embedding_model()
        jobs: list[IndexJob] = []
        planned_courses: list[uuid.UUID] = []
        with self._engine().begin() as conn:
            if course_id is not None:
                course = repo.lock_course(conn, course_id)
                if course is None or not course.published:
                    raise NotFound(COURSE_NOT_FOUND)
                targets = [course_id]
            else:
                # The course rows first, as an indexer recording an asset takes them (then the run, then the asset):
                # planning a course's assets before its course lock deadlocked with a job of that course.
                targets = repo.lock_published_courses(conn)
            for target in targets:
                stored = repo.course_assets(conn, target)
                if not stored:
                    continue
                planned = [PlannedAsset(asset_id=a.asset_id, module_id=a.module_id, module_title=a.module_title,
                                        title=a.title, asset_type=a.asset_type, description=a.description,
                                        source_url=a.source_url, content_key=a.content_key) for a in stored]
                jobs += plan_run(conn, target, uuid.uuid4(), planned, force=force, embedding_model=model)
                planned_courses.append(target)
            if jobs:
                from smartcourse_ai.aws import enqueue_index_jobs

                (self._enqueue or enqueue_index_jobs)(jobs)
        return planned_courses

    # --- settings ----------------------------------------------------------------------------------------------

    def get_settings(self, caller: Principal, course_id: uuid.UUID) -> dict[str, bool]:
        with self._engine().connect() as conn:
            _staff_course(conn, caller, course_id)
            return settings_of(conn, course_id)

    def put_settings(self, caller: Principal, course_id: uuid.UUID, values: dict[str, bool]) -> dict[str, bool]:
        with self._engine().begin() as conn:
            _staff_course(conn, caller, course_id)
            repo.put_settings_row(conn, course_id, values, caller.user_id)
            return settings_of(conn, course_id)

    # --- content gaps ------------------------------------------------------------------------------------------

    def content_gaps(self, caller: Principal, course_id: uuid.UUID) -> tuple[list[GapGroup], int]:
        with self._engine().connect() as conn:
            _staff_course(conn, caller, course_id)
            rows = conn.execute(
                select(unanswered_questions.c.question, unanswered_questions.c.embedding,
                       unanswered_questions.c.asked_at)
                .where(unanswered_questions.c.course_id == course_id)
                .order_by(unanswered_questions.c.asked_at.desc(), unanswered_questions.c.id.desc())
                .limit(GAP_QUESTIONS)).all()
        return group_questions(rows), len(rows)

    # --- recommendations ---------------------------------------------------------------------------------------

    def recommendations(self, caller: Principal) -> list[dict[str, Any]]:
        import numpy as np

        with self._engine().connect() as conn:
            enrolled = set(repo.enrolled_course_ids(conn, caller.user_id))
            published = repo.published_courses(conn)
            counts = repo.enrollment_counts(conn)
            centroids = {r.course_id: np.asarray(r.centroid, dtype=np.float32) for r in conn.execute(
                select(course_index.c.course_id, course_index.c.centroid)
                .where(course_index.c.status == IndexStatus.READY.value, course_index.c.centroid.is_not(None)))}
            titles = {c.course_id: c.title for c in published}
            known_titles = dict(conn.execute(select(repo.courses.c.course_id, repo.courses.c.title)).all())
        mine = [c for c in enrolled if c in centroids]
        most = max(counts.values(), default=0)
        items = []
        for course in published:
            if course.course_id in enrolled:
                continue
            learners = counts.get(course.course_id, 0)
            popularity = math.log1p(learners) / math.log1p(most) if most else 0.0
            reason: str
            if mine and course.course_id in centroids:
                sims = {c: float(centroids[c] @ centroids[course.course_id]) for c in mine}
                nearest = max(sims, key=lambda c: sims[c])
                score = SIMILARITY_WEIGHT * max(0.0, sims[nearest]) + (1 - SIMILARITY_WEIGHT) * popularity
                reason = f"Related to {titles.get(nearest) or known_titles.get(nearest, 'a course you take')}"
            else:
                score = popularity
                reason = (f"Popular: {learners} learner{'s' if learners != 1 else ''} enrolled" if learners
                          else "New on SmartCourse")
            missing = [uuid.UUID(p) for p in course.prerequisite_ids if uuid.UUID(p) not in enrolled]
            if missing:
                names = ", ".join(str(known_titles.get(p, "another course")) for p in missing)
                reason += f"; take {names} first"
                score *= MISSING_PREREQUISITE_FACTOR
            items.append({"course_id": course.course_id, "title": course.title, "reason": reason,
                          "score": round(score, 4), "missing_prerequisite_ids": missing})
        items.sort(key=lambda i: (-float(i["score"]), str(i["title"]), str(i["course_id"])))  # type: ignore[arg-type]
        return items[:RECOMMENDATIONS]

    # --- usage -------------------------------------------------------------------------------------------------

    def usage_me(self, caller: Principal) -> dict[str, Any]:
        settings = get_settings()
        now = self._clock()
        with self._engine().connect() as conn:
            month = usage.month_usage(conn, caller.user_id, now)
        return {"month": usage.month_start(now).strftime("%Y-%m"), "calls": month.calls,
                "prompt_tokens": month.prompt_tokens, "completion_tokens": month.completion_tokens,
                "total_tokens": month.total_tokens, "quota_tokens": settings.ai_monthly_token_quota,
                "remaining_tokens": max(0, settings.ai_monthly_token_quota - month.total_tokens),
                "rate_limit_per_minute": settings.ai_rate_limit_per_minute}

    def usage_report(self, caller: Principal, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        if not caller.is_admin:
            raise Forbidden("Only admins can see everyone's usage")
        now = self._clock()
        start = start or usage.month_start(now)
        end = end or now
        if start.tzinfo is None or end.tzinfo is None:
            start, end = start.replace(tzinfo=start.tzinfo or UTC), end.replace(tzinfo=end.tzinfo or UTC)
        if start > end:
            raise ValidationFailed("from must not be after to", [
                {"loc": ["query", "from"], "msg": "must not be after 'to'", "type": "value_error"}])
        with self._engine().connect() as conn:
            rows = usage.report(conn, start, end, get_settings().ai_cost_per_1k_tokens)
        totals = {"calls": sum(r["calls"] for r in rows),
                  "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
                  "completion_tokens": sum(r["completion_tokens"] for r in rows),
                  "estimated_cost": round(sum(r["estimated_cost"] for r in rows), 6)}
        return {"period_from": start, "period_to": end, "rows": rows, "totals": totals}
