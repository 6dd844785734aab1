"""Commit → consumer latency under a steady write rate, through the whole local event path.

Each write is a unit of work on the LMS database that commits an outbox row
(``course.processing_completed`` for a seeded course) — exactly what a request
handler does, nudge included. The row then travels the real path: the nudged
(or scheduled) outbox publisher function in the runner → the broker → the
runner's Kafka event source mapping → the ``lms-consume-course-processing``
function, whose ``processed_events`` row (written with the effect) marks the
arrival. Latency = ``processed_events.processed_at`` minus the writer's clock right
after commit (same machine, same clock).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

CONSUMER = "lms-course-processing"
WRITER_FUNCTION = "lms-courses-create"  # a request function: its environment is what a handler commits with


@dataclass(frozen=True)
class LatencyResult:
    rate_per_s: float
    writes: int
    achieved_rate_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    delivered: int


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(cloud: Any, rate_per_s: float = 50.0, seconds: float = 30.0, drain_timeout: float = 60.0
            ) -> LatencyResult:
    from smartcourse.settings import get_settings

    env = cloud.runner.function_environment(WRITER_FUNCTION)
    wanted = ("DATABASE_URL", "OUTBOX_PUBLISHER_FUNCTION", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL",
              "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION")
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update({k: env[k] for k in wanted if env.get(k)})
    get_settings.cache_clear()
    try:
        return _run(env["DATABASE_URL"], rate_per_s, seconds, drain_timeout)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def _run(database_url: str, rate_per_s: float, seconds: float, drain_timeout: float) -> LatencyResult:
    from smartcourse.db.engine import make_engine
    from smartcourse.db.unit_of_work import UnitOfWork
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            courses = [r[0] for r in conn.execute(text("SELECT id FROM courses ORDER BY created_at LIMIT 20"))]
        if not courses:
            raise RuntimeError("no courses to write events for (seed the cloud first)")
        committed: dict[uuid.UUID, float] = {}
        total = int(rate_per_s * seconds)
        interval = 1.0 / rate_per_s
        started = time.perf_counter()
        wall_started = time.time()
        for i in range(total):
            due = started + i * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with UnitOfWork(engine) as uow:
                envelope = uow.emit({"course_id": str(courses[i % len(courses)]), "chunks": i, "embeddings": i,
                                     "summary_ready": True},
                                    event_type="course.processing_completed", aggregate_id=courses[i % len(courses)])
                uow.commit()
            committed[uuid.UUID(str(envelope.event_id))] = time.time()
        achieved = total / (time.time() - wall_started)

        arrived: dict[uuid.UUID, float] = {}
        deadline = time.monotonic() + drain_timeout
        ids = list(committed)
        while len(arrived) < len(ids) and time.monotonic() < deadline:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT event_id, extract(epoch FROM processed_at) FROM processed_events "
                         "WHERE consumer = :consumer AND event_id = ANY(:ids)"),
                    {"consumer": CONSUMER, "ids": [i for i in ids if i not in arrived]},
                ).all()
            arrived.update({uuid.UUID(str(r[0])): float(r[1]) for r in rows})
            if len(arrived) < len(ids):
                time.sleep(0.2)
        latencies = [max(0.0, (arrived[i] - committed[i]) * 1000) for i in arrived]
        if not latencies:
            raise RuntimeError("no event reached the consumer")
        return LatencyResult(rate_per_s, total, round(achieved, 1), round(statistics.median(latencies), 1),
                             round(_percentile(latencies, 0.95), 1), round(_percentile(latencies, 0.99), 1),
                             round(max(latencies), 1), len(arrived))
    finally:
        engine.dispose()
