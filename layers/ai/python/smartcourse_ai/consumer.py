"""The AI consumer's effects: ``course.published`` plans an indexing run, ``course.archived`` takes the course
out of search at once, ``enrollment.created`` feeds recommendations.

Each runs in the consumer framework's transaction (idempotent by event id). The run's jobs are sent to the
index queue before the commit: a job that arrives before the commit is retried shortly (``RunNotCommitted``),
and should the commit fail the redelivered event plans the same run again (its id is the event id).
"""

from __future__ import annotations

from collections.abc import Callable

from smartcourse.consumers import typed_payload
from smartcourse_events.envelope import EventEnvelope
from sqlalchemy import Connection

from smartcourse_ai import repository as repo
from smartcourse_ai.aws import enqueue_index_jobs
from smartcourse_ai.indexing.service import plan_run, planned_assets

CONSUMER_NAME = "ai-events"
Effect = Callable[[EventEnvelope, Connection], None]


def make_effects(embedding_model: Callable[[], str],
                 enqueue: Callable[..., None] = enqueue_index_jobs) -> dict[str, Effect]:
    def on_published(envelope: EventEnvelope, conn: Connection) -> None:
        p = typed_payload(envelope)
        repo.upsert_course(conn, course_id=p.course_id, instructor_id=p.instructor_id, title=p.title,  # type: ignore[attr-defined]
                           description=p.description, prerequisite_ids=getattr(p, "prerequisite_ids", []),  # type: ignore[attr-defined]
                           published_at=p.published_at)  # type: ignore[attr-defined]
        jobs = plan_run(conn, p.course_id, envelope.event_id, planned_assets(p.modules),  # type: ignore[attr-defined]
                        force=False, embedding_model=embedding_model())
        enqueue(jobs)

    def on_archived(envelope: EventEnvelope, conn: Connection) -> None:
        repo.archive_course(conn, typed_payload(envelope).course_id)  # type: ignore[attr-defined]

    def on_enrolled(envelope: EventEnvelope, conn: Connection) -> None:
        p = typed_payload(envelope)
        repo.add_enrollment(conn, p.user_id, p.course_id, p.enrolled_at)  # type: ignore[attr-defined]

    return {"course.published": on_published, "course.archived": on_archived, "enrollment.created": on_enrolled}
