"""Analytics service performance: ``python -m tests.benchmarks.analytics_perf`` (``make bench-analytics``).

A deterministic world (seeded): 10,000 learners, instructors and an admin, 100 published courses (5 modules of
4 assets), ~30,000 enrollments and ``ANALYTICS_BENCH_EVENTS`` (default 1,000,000) ``progress.updated`` events
over 90 days ending now, with completions, certificates and drops, built as event envelopes
(``build_event``) in time order. Then, on an embedded PostgreSQL and the AWS emulator (moto):

* ingest: the deployed consumer ``analytics-consume-events`` fed MSK events of its trigger's batch size, and the
  deployed archiver ``analytics-archive-events`` fed the same events in its own batch size (only the handler
  calls are timed; where the consumer's time goes: its SQL statements over the whole run, and a cProfile of
  the last batches);
* reads: ``GET /analytics/courses/{id}`` as each course's owner and ``GET /analytics/me/progress`` of distinct
  learners, the handlers in process with API Gateway events, against their figures computed alone and the
  trivial health handler; EXPLAIN (ANALYZE, BUFFERS) of every statement of the course analytics;
* a course HTML report: ``POST /reports`` → the SQS message → ``analytics-build-report`` → the object in S3;
* a replay: ``analytics-replay`` rebuilds the read models from the archive; figures compared before and after.
"""

from __future__ import annotations

import contextlib
import cProfile
import importlib
import io
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from tests.benchmarks.latency import Latency

SECTION_HEADING = "## Analytics service"
INGEST_GOAL_PER_S = 5000.0
COURSE_GOAL_MS = 50.0
PROGRESS_GOAL_MS = 20.0
REPORT_GOAL_S = 10.0
REPLAY_GOAL_S = 300.0

BENCH_EVENTS = int(os.environ.get("ANALYTICS_BENCH_EVENTS", "1000000"))
LEARNERS = int(os.environ.get("ANALYTICS_BENCH_LEARNERS", "10000"))
ENROLLMENTS = int(os.environ.get("ANALYTICS_BENCH_ENROLLMENTS", "30000"))
COURSES = 100
INSTRUCTORS = 25
MODULES = 5
ASSETS_PER_MODULE = 4
UPDATES_PER_ASSET = 4  # 25, 50, 75, 100 %
DAYS = 90
COMPLETING_SHARE = 0.11  # enrollments that go all the way (when the event budget allows)
DROP_SHARE = 0.25  # of the others, the ones that drop after their last activity
READ_CALLS = int(os.environ.get("ANALYTICS_BENCH_READS", "200"))
REPORT_RUNS = 3
PROFILED_CHUNKS = 10  # the last chunks go through the consumer under cProfile (outside the timed figures)
WARMUP = 5
SEED = 20261210
ARCHIVE_BUCKET = "analytics-bench-archive"
REPORTS_BUCKET = "analytics-bench-reports"

ASSETS = MODULES * ASSETS_PER_MODULE
FULL = ASSETS * UPDATES_PER_ASSET  # progress events of a completed enrollment


# ---------------------------------------------------------------------------------------------------------------
# The world: a compact plan (ids, times), then envelopes built chunk by chunk in time order
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class CourseSpec:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    modules: list[tuple[uuid.UUID, str, list[uuid.UUID]]]
    published_s: float

    @property
    def assets(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        return [(m, a) for m, _, assets in self.modules for a in assets]


@dataclass
class EnrollmentSpec:
    enrollment_id: uuid.UUID
    learner: int
    course: int
    enrolled_s: float
    events: int = 0


# Item kinds (the plan keeps tuples: (seconds after start, sequence, kind, index, extra)).
USER, VERIFIED, ROLE, CREATED, PUBLISHED, ENROLLED, PROGRESS, COMPLETED, CERTIFICATE, DROPPED = range(10)


@dataclass
class World:
    start: datetime
    end: datetime
    admin: uuid.UUID
    instructors: list[uuid.UUID]
    learners: list[uuid.UUID]
    courses: list[CourseSpec]
    enrollments: list[EnrollmentSpec]
    items: list[tuple[float, int, int, int, float]]
    plan_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def progress_events(self) -> int:
        return self.counts.get("progress.updated", 0)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _progress_budget(rng: random.Random, n_enrollments: int, n_events: int) -> list[int]:
    """Progress events per enrollment summing to ``n_events``: a share goes all the way (``FULL`` events), the
    others a skewed share of the way (most stop early), scaled to the budget."""
    completing = min(round(COMPLETING_SHARE * n_enrollments), max(0, (n_events - n_enrollments) // (FULL - 1)))
    flags = [True] * completing + [False] * (n_enrollments - completing)
    rng.shuffle(flags)
    others = n_enrollments - completing
    budget = n_events - FULL * completing
    low = 1 if budget >= others else 0
    raw = [1 + (FULL - 2) * rng.random() ** 2 for _ in range(others)]
    scale = budget / sum(raw) if raw else 0.0
    counts = [max(low, min(FULL - 1, int(r * scale))) for r in raw]
    diff = budget - sum(counts)
    while diff != 0 and others:
        j = rng.randrange(others)
        if diff > 0 and counts[j] < FULL - 1:
            counts[j] += 1
            diff -= 1
        elif diff < 0 and counts[j] > low:
            counts[j] -= 1
            diff += 1
    it = iter(counts)
    return [FULL if flag else next(it) for flag in flags]


def plan_world(n_events: int = BENCH_EVENTS, seed: int = SEED) -> World:
    """Who, what and when (no envelopes yet): every event as a small tuple, sorted by time."""
    started = time.perf_counter()
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    span = DAYS * 86400.0
    day = 86400.0
    items: list[tuple[float, int, int, int, float]] = []
    seq = 0

    def add(at: float, kind: int, index: int, extra: float = 0.0) -> None:
        nonlocal seq
        items.append((at, seq, kind, index, extra))
        seq += 1

    admin = _uuid(rng)
    instructors = [_uuid(rng) for _ in range(INSTRUCTORS)]
    learners = [_uuid(rng) for _ in range(LEARNERS)]
    add(0.0, USER, -1)
    add(60.0, ROLE, -1)
    for i in range(INSTRUCTORS):
        add(120.0 + i, USER, LEARNERS + i)
    registered = [rng.uniform(0, 10 * day) for _ in range(LEARNERS)]
    for i, at in enumerate(registered):
        add(at, USER, i)
        if rng.random() < 0.5:
            add(at + rng.uniform(60, 3 * day), VERIFIED, i)
    courses = []
    for c in range(COURSES):
        modules = [(_uuid(rng), f"Module {m + 1}", [_uuid(rng) for _ in range(ASSETS_PER_MODULE)])
                   for m in range(MODULES)]
        created = rng.uniform(1 * 3600, 4 * day)
        published = created + rng.uniform(600, day)
        courses.append(CourseSpec(_uuid(rng), instructors[c % INSTRUCTORS], f"Bench course {c + 1:03d}", modules,
                                  published))
        add(created, CREATED, c)
        add(published, PUBLISHED, c)
    # Popularity: a long tail (the first course ~6 % of the enrollments, the last ~0.3 %).
    weights = [1 / (c + 5) for c in range(COURSES)]
    pairs: set[tuple[int, int]] = set()
    enrollments: list[EnrollmentSpec] = []
    while len(enrollments) < ENROLLMENTS:
        learner = rng.randrange(LEARNERS)
        course = rng.choices(range(COURSES), weights)[0]
        if (learner, course) in pairs:
            continue
        pairs.add((learner, course))
        earliest = max(registered[learner], courses[course].published_s) + 3600
        enrolled = rng.uniform(earliest, max(earliest, (DAYS - 10) * day))
        enrollments.append(EnrollmentSpec(_uuid(rng), learner, course, enrolled))
    budgets = _progress_budget(rng, len(enrollments), n_events)
    for index, (spec, n) in enumerate(zip(enrollments, budgets, strict=True)):
        spec.events = n
        add(spec.enrolled_s, ENROLLED, index)
        if n == 0:
            continue
        room = span - spec.enrolled_s - 600
        active = min(room, rng.uniform(0.5, 45) * day)
        times = sorted(spec.enrolled_s + 300 + active * rng.random() for _ in range(n))
        for k, at in enumerate(times):
            add(at, PROGRESS, index, float(k))
        last = times[-1]
        if n == FULL:
            add(last + 60, COMPLETED, index)
            add(last + 120, CERTIFICATE, index)
        elif rng.random() < DROP_SHARE and (dropped := last + rng.uniform(1, 14) * day) < span:
            add(dropped, DROPPED, index)
    items.sort()
    names = {USER: "user.registered", VERIFIED: "user.email_verified", ROLE: "user.role_changed",
             CREATED: "course.created", PUBLISHED: "course.published", ENROLLED: "enrollment.created",
             PROGRESS: "progress.updated", COMPLETED: "enrollment.completed", CERTIFICATE: "certificate.issued",
             DROPPED: "enrollment.dropped"}
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[names[item[2]]] += 1
    return World(start, end, admin, instructors, learners, courses, enrollments, items,
                 time.perf_counter() - started, dict(counts))


class Envelopes:
    """The plan's items as validated envelopes (``build_event``), event ids from a seeded generator."""

    def __init__(self, world: World, seed: int = SEED) -> None:
        self.w = world
        self.rng = random.Random(seed + 1)

    def _at(self, seconds: float) -> datetime:
        return self.w.start + timedelta(seconds=seconds)

    def _user(self, index: int) -> uuid.UUID:
        w = self.w
        return w.admin if index < 0 else w.learners[index] if index < LEARNERS else w.instructors[index - LEARNERS]

    def build(self, item: tuple[float, int, int, int, float]) -> Any:
        from smartcourse_events.registry import build_event

        seconds, _seq, kind, index, extra = item
        at = self._at(seconds)
        event_id = _uuid(self.rng)
        w = self.w
        if kind == PROGRESS:
            spec = w.enrollments[index]
            course = w.courses[spec.course]
            k = int(extra)
            asset, step = divmod(k, UPDATES_PER_ASSET)
            percent = 100 * (step + 1) // UPDATES_PER_ASSET
            done = asset + (1 if percent == 100 else 0)
            module_id, asset_id = course.assets[asset]
            payload: dict[str, Any] = {
                "enrollment_id": str(spec.enrollment_id), "user_id": str(w.learners[spec.learner]),
                "course_id": str(course.course_id), "asset_id": str(asset_id), "module_id": str(module_id),
                "progress_percent": float(percent), "time_spent_delta": 30 + (event_id.int % 570),
                "course_percent": round(100 * done / ASSETS, 2)}
            return build_event(payload, event_type="progress.updated", occurred_at=at, event_id=event_id)
        if kind in (ENROLLED, COMPLETED, CERTIFICATE, DROPPED):
            spec = w.enrollments[index]
            base = {"enrollment_id": str(spec.enrollment_id), "user_id": str(w.learners[spec.learner]),
                    "course_id": str(w.courses[spec.course].course_id)}
            if kind == ENROLLED:
                return build_event({**base, "source": "self", "enrolled_at": at.isoformat()},
                                   event_type="enrollment.created", occurred_at=at, event_id=event_id)
            if kind == COMPLETED:
                return build_event({**base, "completed_at": at.isoformat()}, event_type="enrollment.completed",
                                   occurred_at=at, event_id=event_id)
            if kind == CERTIFICATE:
                serial = "SC-" + "".join(self.rng.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(12))
                return build_event({**base, "certificate_id": str(_uuid(self.rng)), "serial_no": serial},
                                   event_type="certificate.issued", occurred_at=at, event_id=event_id)
            return build_event(base, event_type="enrollment.dropped", occurred_at=at, event_id=event_id)
        if kind in (CREATED, PUBLISHED):
            course = w.courses[index]
            if kind == CREATED:
                return build_event({"course_id": str(course.course_id), "instructor_id": str(course.instructor_id),
                                    "title": course.title}, event_type="course.created", occurred_at=at,
                                   event_id=event_id)
            return build_event({
                "course_id": str(course.course_id), "instructor_id": str(course.instructor_id),
                "title": course.title, "description": None, "published_at": at.isoformat(),
                "modules": [{"module_id": str(m), "title": title, "assets": [
                    {"asset_id": str(a), "title": f"Lesson {j + 1}", "asset_type": "video",
                     "source_url": "https://video.example/lesson"} for j, a in enumerate(assets)]}
                    for m, title, assets in course.modules]}, event_type="course.published", occurred_at=at,
                event_id=event_id)
        user_id = self._user(index)
        if kind == USER:
            roles = ["instructor"] if index >= LEARNERS else ["student"]
            return build_event({"user_id": str(user_id), "email": f"u{index + 1}@bench.smartcourse.local",
                                "full_name": f"Bench User {index + 1}", "roles": roles,
                                "verification_token_ref": str(_uuid(self.rng))},
                               event_type="user.registered", occurred_at=at, event_id=event_id)
        if kind == VERIFIED:
            return build_event({"user_id": str(user_id)}, event_type="user.email_verified", occurred_at=at,
                               event_id=event_id)
        return build_event({"user_id": str(user_id), "role": "admin", "granted": True},
                           event_type="user.role_changed", occurred_at=at, event_id=event_id)


# ---------------------------------------------------------------------------------------------------------------
# The functions' environment (as the stack sets it, a local database, moto for S3 and SQS)
# ---------------------------------------------------------------------------------------------------------------


def _reset_caches() -> None:
    from smartcourse import aws_clients, storage
    from smartcourse.consumers import dlq
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_analytics import reports, service

    get_settings.cache_clear()
    engine_module.reset_engine()
    service.get_analytics.cache_clear()
    reports.get_reports.cache_clear()
    storage.reset_client()
    aws_clients.reset_clients()
    dlq.reset_client()


@contextlib.contextmanager
def environment(values: dict[str, str], dropped: Sequence[str] = ("OUTBOX_PUBLISHER_FUNCTION",)) -> Iterator[None]:
    """``values`` in os.environ (settings, engine and AWS clients re-created from them), restored after."""
    import logging

    from smartcourse.observability import logger

    saved = {k: os.environ.get(k) for k in [*values, *dropped]}
    level = logger.log_level
    for key in dropped:
        os.environ.pop(key, None)
    os.environ.update(values)
    logger.setLevel(logging.WARNING)  # the consumers log a line per batch at INFO
    _reset_caches()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        logger.setLevel(level)
        _reset_caches()


def function_environment(database_url: str, aws_endpoint: str, queue_url: str, dlq_url: str) -> dict[str, str]:
    """What the analytics functions read: the union of their environments (each only reads its own)."""
    from localcloud.services import EMULATOR_ENV
    from smartcourse.observability import METRICS_NAMESPACE

    return {
        "STAGE": "bench", "SERVICE_NAME": "analytics", "POWERTOOLS_SERVICE_NAME": "analytics",
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE, "LOG_LEVEL": "WARNING", "JWT_ISSUER": "smartcourse",
        "DATABASE_URL": database_url, "DB_NAME": "smartcourse_analytics", "AWS_ENDPOINT_URL": aws_endpoint,
        **EMULATOR_ENV, "ARCHIVE_BUCKET": ARCHIVE_BUCKET, "REPORTS_BUCKET": REPORTS_BUCKET,
        "ANALYTICS_REPORT_QUEUE_URL": queue_url, "CONSUMER_DLQ_URL": dlq_url, "CONSUMER_MAX_ATTEMPTS": "1",
        "TRIGGER_QUEUE_MAX_RECEIVES": "5",
    }


def handler_of(name: str) -> Callable[..., Any]:
    from smartcourse_analytics.catalogue import function

    handler: Callable[..., Any] = importlib.import_module(function(name).module).handler
    return handler


# ---------------------------------------------------------------------------------------------------------------
# Where the SQL time goes: every statement's duration, by kind and table
# ---------------------------------------------------------------------------------------------------------------

_STATEMENT = re.compile(r"^\s*(?:(INSERT) INTO (\w+)|(UPDATE) (\w+)|(DELETE) FROM (\w+)|(SELECT)\b.*?\bFROM\s+(\w+))",
                        re.IGNORECASE | re.DOTALL)


_WRITES = re.compile(r"\bINSERT INTO (\w+)", re.IGNORECASE)


def statement_label(sql: str) -> str:
    if sql.lstrip().upper().startswith("WITH"):
        # A statement of several writes (common table expressions): the tables it writes.
        tables = list(dict.fromkeys(_WRITES.findall(sql)))
        return f"WITH … INSERT {', '.join(tables)} … ON CONFLICT DO UPDATE (bulk)"
    match = _STATEMENT.match(sql)
    if match is None:
        return sql.strip().split(None, 1)[0].upper() if sql.strip() else "?"
    verb, table = next((match.group(i), match.group(i + 1)) for i in range(1, 9, 2) if match.group(i))
    upsert = " … ON CONFLICT DO UPDATE" if verb.upper() == "INSERT" and "DO UPDATE" in sql else ""
    bulk = " (bulk)" if "jsonb_to_recordset" in sql else ""
    return f"{verb.upper()} {table}{upsert}{bulk}"


class StatementTimer:
    """Per statement label: calls and seconds (cursor execute to its return), on every engine while active."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.active = False

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        if self.active:
            conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if self.active and conn.info.get("bench_started"):
            elapsed = time.perf_counter() - conn.info["bench_started"].pop()
            label = statement_label(statement)
            self.calls[label] += 1
            self.seconds[label] += elapsed

    def __enter__(self) -> StatementTimer:
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._before)
        event.remove(Engine, "after_cursor_execute", self._after)


# ---------------------------------------------------------------------------------------------------------------
# Ingest: the consumer and the archiver on MSK batches
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    events: int = 0
    consumer_batches: list[float] = field(default_factory=list)  # ms per handler call
    consumer_sizes: list[int] = field(default_factory=list)
    consumer_progress: list[int] = field(default_factory=list)  # progress events of each timed batch
    archiver_batches: list[float] = field(default_factory=list)
    archiver_events: int = 0
    build_s: float = 0.0  # envelopes
    encode_s: float = 0.0  # MSK events
    profiled_events: int = 0
    profile: str = ""
    profile_s: float = 0.0
    statements: dict[str, tuple[int, float]] = field(default_factory=dict)
    archive_objects: int = 0
    archive_bytes: int = 0
    applied: int = 0

    @property
    def consumer_s(self) -> float:
        return sum(self.consumer_batches) / 1000

    @property
    def timed_events(self) -> int:
        return sum(self.consumer_sizes)

    @property
    def rate(self) -> float:
        return self.timed_events / self.consumer_s if self.consumer_s else 0.0

    @property
    def archiver_rate(self) -> float:
        seconds = sum(self.archiver_batches) / 1000
        return self.archiver_events / seconds if seconds else 0.0


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One MSK event holding the records of two (per topic-partition, in order)."""
    records = {key: [*a["records"].get(key, []), *b["records"].get(key, [])]
               for key in dict.fromkeys([*a["records"], *b["records"]])}
    return {**a, "records": records}


def _profile_text(profile: cProfile.Profile, top: int = 14) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    root = str(Path(__file__).resolve().parents[2]) + "/"
    return "\n".join(line.replace(root, "") for line in lines[start:])


def ingest(world: World, log: Callable[[str], None]) -> IngestResult:
    """Every planned event through the consumer (batches of its trigger's size) and the archiver (its size)."""
    from smartcourse_analytics.catalogue import function

    from tests.support.events import msk_event

    consumer_batch = function("analytics-consume-events").kafka.batch_size  # type: ignore[union-attr]
    archiver_batch = function("analytics-archive-events").kafka.batch_size  # type: ignore[union-attr]
    assert archiver_batch % consumer_batch == 0, (consumer_batch, archiver_batch)
    consume, archive = handler_of("analytics-consume-events"), handler_of("analytics-archive-events")
    builder = Envelopes(world)
    result = IngestResult()
    items = world.items
    chunks = range(0, len(items), archiver_batch)
    profiled_from = max(1, len(chunks) - PROFILED_CHUNKS)
    profile = cProfile.Profile()
    offset = 0
    last_log = time.perf_counter()
    with StatementTimer() as timer:
        for number, start in enumerate(chunks):
            started = time.perf_counter()
            envelopes = [builder.build(item) for item in items[start:start + archiver_batch]]
            result.build_s += time.perf_counter() - started
            started = time.perf_counter()
            batches = []
            for i in range(0, len(envelopes), consumer_batch):
                batches.append(msk_event(*envelopes[i:i + consumer_batch], offset=offset))
                offset += consumer_batch
            merged = batches[0]
            for other in batches[1:]:
                merged = _merge(merged, other)
            result.encode_s += time.perf_counter() - started
            profiled = number >= profiled_from
            timer.active = not profiled
            for i, batch in zip(range(0, len(envelopes), consumer_batch), batches, strict=True):
                size = len(envelopes[i:i + consumer_batch])
                if profiled:
                    started = time.perf_counter()
                    profile.enable()
                    summary = consume(batch, None)
                    profile.disable()
                    result.profile_s += time.perf_counter() - started
                    result.profiled_events += size
                else:
                    started = time.perf_counter()
                    summary = consume(batch, None)
                    result.consumer_batches.append((time.perf_counter() - started) * 1000)
                    result.consumer_sizes.append(size)
                    result.consumer_progress.append(sum(1 for e in envelopes[i:i + consumer_batch]
                                                        if e.event_type == "progress.updated"))
                if summary["dead_lettered"] or summary["records"] != size:
                    raise RuntimeError(f"consumer batch: {summary}")
                result.applied += summary["applied"]
            timer.active = False
            started = time.perf_counter()
            archived = archive(merged, None)
            result.archiver_batches.append((time.perf_counter() - started) * 1000)
            if archived["dead_lettered"] or archived["archived"] != len(envelopes):
                raise RuntimeError(f"archiver batch: {archived}")
            result.archiver_events += len(envelopes)
            result.archive_objects += archived["objects"]
            result.events += len(envelopes)
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                log(f"analytics-perf: {result.events:,} / {len(items):,} events, consumer {result.rate:,.0f}/s, "
                    f"archiver {result.archiver_rate:,.0f}/s")
    result.statements = {label: (timer.calls[label], timer.seconds[label]) for label in timer.calls}
    result.profile = _profile_text(profile)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Reads: the handlers in process, their figures alone, the trivial handler; the course analytics' plans
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ReadResult:
    course_handler: Latency
    course_figures: Latency
    progress_handler: Latency
    progress_figures: Latency
    health: Latency
    plans: list[tuple[str, str]]  # (label, EXPLAIN ANALYZE text) of each statement of the course analytics
    course_enrollments: tuple[int, int]  # smallest, largest course's enrollments
    learner_courses: float  # mean courses per timed learner


def _timed(call: Callable[[Any], Any], args: Sequence[Any]) -> list[float]:
    for arg in args[:WARMUP]:
        call(arg)
    samples = []
    for arg in args:
        started = time.perf_counter()
        call(arg)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def explain_course_analytics(engine: Engine, course_id: uuid.UUID, today: date) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement ``figures.course_analytics`` runs (captured as run)."""
    from smartcourse_analytics import figures

    captured: list[tuple[str, str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        frame = sys._getframe(1)
        while frame is not None and not frame.f_code.co_filename.endswith("smartcourse_analytics/queries.py"):
            frame = frame.f_back  # type: ignore[assignment]
        label = f"queries.{frame.f_code.co_name}" if frame is not None else statement_label(statement)
        captured.append((label, statement, parameters))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        try:
            figures.course_analytics(conn, course_id, None, None, today)
        finally:
            event.remove(conn, "before_cursor_execute", capture)
        plans = []
        for label, statement, parameters in captured:
            rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).all()
            plans.append((label, "\n".join(r[0] for r in rows)))
    return plans


def reads(world: World, engine: Engine, log: Callable[[str], None]) -> ReadResult:
    from smartcourse_analytics import figures
    from smartcourse_analytics.catalogue import function

    from tests.support.apigw import body_of, rest_event

    today = datetime.now(UTC).date()
    course_handler = handler_of("analytics-course")
    progress_handler = handler_of("analytics-me-progress")
    health_handler = handler_of("analytics-health")
    course_fn, progress_fn, health_fn = (function(n) for n in ("analytics-course", "analytics-me-progress",
                                                                "analytics-health"))
    courses = [world.courses[i % COURSES] for i in range(READ_CALLS)]
    rng = random.Random(SEED + 2)
    enrolled = sorted({e.learner for e in world.enrollments if e.events})
    learners = [world.learners[i] for i in rng.sample(enrolled, min(READ_CALLS, len(enrolled)))]

    def course_call(course: CourseSpec) -> None:
        response = course_handler(rest_event(course_fn, path_params={"course_id": str(course.course_id)},
                                             principal=(str(course.instructor_id), "instructor")), None)
        assert response["statusCode"] == 200, response
        assert body_of(response)["enrollments"]["total"] >= 0

    def progress_call(user_id: uuid.UUID) -> None:
        response = progress_handler(rest_event(progress_fn, principal=(str(user_id), "student")), None)
        assert response["statusCode"] == 200, response
        assert body_of(response)["courses"], user_id

    def course_alone(course: CourseSpec) -> None:
        with engine.connect() as conn:
            figures.course_analytics(conn, course.course_id, None, None, today)

    def progress_alone(user_id: uuid.UUID) -> None:
        with engine.connect() as conn:
            figures.learner_progress(conn, user_id, today)

    def health_call(_: object) -> None:
        assert health_handler(rest_event(health_fn), None)["statusCode"] == 200

    log(f"analytics-perf: reads ({READ_CALLS} calls each)…")
    result_course = _timed(course_call, courses)
    result_course_alone = _timed(course_alone, courses)
    result_progress = _timed(progress_call, learners)
    result_progress_alone = _timed(progress_alone, learners)
    result_health = _timed(health_call, list(range(READ_CALLS)))
    sizes: dict[int, int] = defaultdict(int)
    per_learner: dict[uuid.UUID, int] = defaultdict(int)
    for e in world.enrollments:
        sizes[e.course] += 1
        per_learner[world.learners[e.learner]] += 1
    biggest = world.courses[max(sizes, key=lambda c: sizes[c])]
    plans = explain_course_analytics(engine, biggest.course_id, today)
    return ReadResult(
        Latency.of("course analytics handler (owner)", result_course),
        Latency.of("course analytics figures alone (`figures.course_analytics`)", result_course_alone),
        Latency.of("learner progress handler", result_progress),
        Latency.of("learner progress figures alone (`figures.learner_progress`)", result_progress_alone),
        Latency.of("health handler (trivial baseline)", result_health),
        plans, (min(sizes.values()), max(sizes.values())),
        statistics.mean(per_learner[u] for u in learners))


# ---------------------------------------------------------------------------------------------------------------
# A course HTML report: POST /reports → SQS → the builder → S3
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ReportResult:
    course_title: str
    learners: int
    build_ms: list[float]
    request_ms: list[float]
    size_bytes: int


def _sqs_event(message: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"],
                       "SentTimestamp": message["Attributes"]["SentTimestamp"], "SenderId": "AIDABENCH",
                       "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:analytics-reports", "awsRegion": "us-east-1"}]}


def report(world: World, engine: Engine, s3: Any, sqs: Any, queue_url: str) -> ReportResult:
    from smartcourse_analytics.catalogue import function

    from tests.support.apigw import body_of, rest_event

    sizes: dict[int, int] = defaultdict(int)
    for e in world.enrollments:
        sizes[e.course] += 1
    course = world.courses[max(sizes, key=lambda c: sizes[c])]
    create, build = handler_of("analytics-reports-create"), handler_of("analytics-build-report")
    create_fn = function("analytics-reports-create")
    owner = (str(course.instructor_id), "instructor")
    build_ms, request_ms, size = [], [], 0
    for _ in range(REPORT_RUNS):
        started = time.perf_counter()
        response = create(rest_event(create_fn, principal=owner, body={
            "type": "course", "format": "html", "course_id": str(course.course_id)}), None)
        request_ms.append((time.perf_counter() - started) * 1000)
        assert response["statusCode"] == 202, response
        report_id = body_of(response)["report_id"]
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"],
                                       WaitTimeSeconds=5)["Messages"]
        started = time.perf_counter()
        answer = build(_sqs_event(messages[0]), None)
        with engine.connect() as conn:
            key = conn.execute(text("SELECT s3_key FROM reports WHERE report_id = :r AND status = 'ready'"),
                               {"r": uuid.UUID(report_id)}).scalar_one()
        size = int(s3.head_object(Bucket=REPORTS_BUCKET, Key=key)["ContentLength"])
        build_ms.append((time.perf_counter() - started) * 1000)
        assert answer["batchItemFailures"] == [], answer
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return ReportResult(course.title, sizes[world.courses.index(course)], build_ms, request_ms, size)


# ---------------------------------------------------------------------------------------------------------------
# Replay: the archive back into the read models; figures before and after
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    seconds: float
    counts: dict[str, Any]
    courses_equal: int
    courses_compared: int
    learners_equal: int
    learners_compared: int
    archive_objects: int
    archive_bytes: int


def snapshot_figures(engine: Engine, courses: Sequence[uuid.UUID], learners: Sequence[uuid.UUID],
                     today: date) -> tuple[list[Any], list[Any]]:
    from smartcourse_analytics import figures

    with engine.connect() as conn:
        return ([figures.course_analytics(conn, c, None, None, today) for c in courses],
                [figures.learner_progress(conn, u, today) for u in learners])


def archive_size(s3: Any) -> tuple[int, int]:
    objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARCHIVE_BUCKET, Prefix="events/"):
        for item in page.get("Contents", ()):
            objects += 1
            size += int(item["Size"])
    return objects, size


def replay(world: World, engine: Engine, s3: Any) -> ReplayResult:
    today = world.end.date()
    rng = random.Random(SEED + 3)
    courses = [c.course_id for c in rng.sample(world.courses, 3)]
    learners = [world.learners[e.learner] for e in rng.sample(world.enrollments, 5)]
    before = snapshot_figures(engine, courses, learners, today)
    objects, size = archive_size(s3)
    started = time.perf_counter()
    counts = handler_of("analytics-replay")({}, None)
    seconds = time.perf_counter() - started
    after = snapshot_figures(engine, courses, learners, today)
    return ReplayResult(seconds, counts, sum(a == b for a, b in zip(before[0], after[0], strict=True)), len(courses),
                        sum(a == b for a, b in zip(before[1], after[1], strict=True)), len(learners), objects, size)


# ---------------------------------------------------------------------------------------------------------------
# The database after the load
# ---------------------------------------------------------------------------------------------------------------


def table_sizes(engine: Engine) -> tuple[list[tuple[str, int, float]], float]:
    """(table, rows, MB with indexes) of every analytics table with rows, and the database's MB."""
    from smartcourse_analytics.tables import metadata

    out = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            count = text(f"SELECT count(*) FROM {table.name}")  # noqa: S608 - the schema's own table names
            rows = int(conn.execute(count).scalar_one())
            size = int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table.name}).scalar_one())
            out.append((table.name, rows, size / 2**20))
        database = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    return [r for r in out if r[1]], database / 2**20


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


_ACCESS = re.compile(r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan|Bitmap Heap Scan)"
                     r"(?: Backward)?(?: using \w+)? on \w+)")


def plan_summary(plans: Sequence[tuple[str, str]]) -> list[str]:
    rows = []
    for label, plan in plans:
        accesses = list(dict.fromkeys(_ACCESS.findall(plan)))
        total = re.search(r"Execution Time: ([\d.]+) ms", plan)
        top = re.search(r"Buffers: ([^\n]*)", plan)  # the first one is the top node's (the whole statement)
        hits = int(m.group(1)) if top and (m := re.search(r"shared hit=(\d+)", top.group(1))) else 0
        reads_ = int(m.group(1)) if top and (m := re.search(r"read=(\d+)", top.group(1))) else 0
        rows.append(f"| `{label}` | {float(total.group(1)) if total else 0:.2f} | {hits:,} / {reads_:,} | "
                    f"{'; '.join(accesses) or '(no table access)'} |")
    return rows


def render(world: World, ing: IngestResult, rd: ReadResult, rep: ReportResult | None, rp: ReplayResult | None,
           sizes: tuple[list[tuple[str, int, float]], float], total_s: float, load: tuple[float, float],
           missing: Sequence[str]) -> str:
    batches = Latency.of("consumer batch", ing.consumer_batches)
    per_batch_rate = statistics.median(n / (ms / 1000) for n, ms in zip(ing.consumer_sizes, ing.consumer_batches,
                                                                         strict=True))
    archiver = Latency.of("archiver batch", ing.archiver_batches)
    non_progress = sum(v for k, v in world.counts.items() if k != "progress.updated")
    completions = world.counts.get("enrollment.completed", 0)
    drops = world.counts.get("enrollment.dropped", 0)
    sql_s = sum(s for _, s in ing.statements.values())
    timed = list(zip(ing.consumer_sizes, ing.consumer_batches, ing.consumer_progress, strict=True))
    pure = [(n, ms) for n, ms, p in timed if p == n]
    mixed = [(n, ms, n - p) for n, ms, p in timed if p != n]
    pure_rate = sum(n for n, _ in pure) / (sum(ms for _, ms in pure) / 1000) if pure else 0.0
    mixed_rate = sum(n for n, _, _ in mixed) / (sum(ms for _, ms, _ in mixed) / 1000) if mixed else 0.0
    pure_p50 = statistics.median(ms for _, ms in pure) if pure else 0.0
    lines = [
        "",
        SECTION_HEADING,
        "",
        f"`python -m tests.benchmarks.analytics_perf` (`make bench-analytics`), {total_s / 60:.1f} min on this "
        f"machine ({os.cpu_count()} cores, shared: load average {load[0]:.1f} at the start, {load[1]:.1f} at the "
        "end): an embedded PostgreSQL (fsync off, otherwise defaults: shared_buffers 128 MB) and moto for S3 and "
        "SQS; the deployed handlers imported in process with the environment a deployed function has, fed the "
        "events their triggers deliver (MSK batches, API Gateway proxy events, SQS records).",
        "",
        "### The data",
        "",
        f"Deterministic (seeded): {LEARNERS:,} learners, {INSTRUCTORS} instructors and an admin; {COURSES} "
        f"published courses ({MODULES} modules of {ASSETS_PER_MODULE} assets) with a long tail of popularity "
        f"({rd.course_enrollments[0]:,} to {rd.course_enrollments[1]:,} enrollments); "
        f"{len(world.enrollments):,} enrollments; **{world.progress_events:,} `progress.updated` events** over "
        f"{DAYS} days ending now ({UPDATES_PER_ASSET} readings per asset, 25 % to 100 %; `course_percent` = "
        f"completed assets ÷ {ASSETS}), {completions:,} completions with their certificates, {drops:,} drops; "
        f"{non_progress:,} other events (users, courses, enrollments) — {ing.events:,} events in all, delivered in "
        "time order. Planning them took "
        f"{world.plan_s:.1f} s, building the envelopes (`build_event`, validated) {ing.build_s:.1f} s, encoding "
        f"the MSK events (base64 JSON) {ing.encode_s:.1f} s: none of it in the figures below.",
        "",
        "### Ingest",
        "",
        "| Handler | events | batches (size) | handler s | events/s | batch p50 ms | batch p95 ms | goal | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
        f"| `analytics-consume-events` | {ing.timed_events:,} | {len(ing.consumer_batches):,} "
        f"({max(ing.consumer_sizes)}) | {ing.consumer_s:.1f} | **{ing.rate:,.0f}** | {batches.p50_ms:.1f} | "
        f"{batches.p95_ms:.1f} | ≥ {INGEST_GOAL_PER_S:,.0f}/s | {_met(ing.rate >= INGEST_GOAL_PER_S)} |",
        f"| `analytics-archive-events` | {ing.archiver_events:,} | {len(ing.archiver_batches):,} "
        f"({max(1, ing.archiver_events // max(1, len(ing.archiver_batches)))}) | "
        f"{sum(ing.archiver_batches) / 1000:.1f} | {ing.archiver_rate:,.0f} | {archiver.p50_ms:.1f} | "
        f"{archiver.p95_ms:.1f} | — | — |",
        "",
        f"The consumer's median batch runs at {per_batch_rate:,.0f} events/s"
        + (f"; the {len(pure):,} batches of progress events only at **{pure_rate:,.0f} events/s** (batch p50 "
           f"{pure_p50:.0f} ms)" if pure else "")
        + (f"; the {len(mixed):,} batches that also carry user, course or enrollment events "
           f"({sum(k for _, _, k in mixed):,} such events) at {mixed_rate:,.0f} events/s" if mixed else "")
        + ". Progress, registrations and enrollment-topic events share a handful of bulk statements per batch; "
        "course, role and nudge events (rare) are applied one by one. "
        f"Its last {ing.profiled_events:,} "
        "events went through it under cProfile (not in the table; all events were applied: "
        f"{ing.applied:,}). The archiver wrote {ing.archive_objects:,} objects (one per topic and day of a "
        "batch) to the emulated S3, each event once (its ledger).",
        "",
        f"Where the consumer's time goes: of its {ing.consumer_s:.1f} s, {sql_s:.1f} s "
        f"({sql_s / ing.consumer_s:.0%}) are its SQL statements (client side, cursor execute to return):",
        "",
        "| Statement | calls | s | share of handler time | ms per call |",
        "|---|---:|---:|---:|---:|",
        *(f"| `{label}` | {calls:,} | {seconds:.1f} | {seconds / ing.consumer_s:.0%} | "
          f"{seconds / calls * 1000:.2f} |"
          for label, (calls, seconds) in sorted(ing.statements.items(), key=lambda kv: -kv[1][1])[:12]),
        "",
        "The rest is Python: decoding each record, validating its envelope and then its payload (once each), "
        "folding the roll-ups and serialising the batch's JSON "
        f"parameters. cProfile of the last {ing.profiled_events:,} events ({ing.profile_s:.1f} s under the "
        "profiler), by own time:",
        "",
        "<details><summary>cProfile of the consumer, top functions by own time</summary>",
        "",
        "```",
        ing.profile,
        "```",
        "",
        "</details>",
        "",
        "### Reads",
        "",
        f"{rd.course_handler.n} calls each after {WARMUP} warm-up calls: the course analytics of the {COURSES} "
        "courses in turn, each as its owner (`GET /analytics/courses/{id}`, default period); the progress of "
        f"{rd.progress_handler.n} distinct learners ({rd.learner_courses:.1f} courses each on average; "
        "`GET /analytics/me/progress`). Baselines from the same run: the figures alone (the same functions on a "
        "connection of the same engine, no event, authorization nor response model) and the trivial health "
        "handler.",
        "",
        "| Path | n | p50 ms | p95 ms |",
        "|---|---:|---:|---:|",
        *(f"| {r.name} | {r.n} | {r.p50_ms:.2f} | {r.p95_ms:.2f} |"
          for r in (rd.course_handler, rd.course_figures, rd.progress_handler, rd.progress_figures, rd.health)),
        "",
        f"Course analytics: handler p50 / figures p50 **{rd.course_handler.p50_ms / rd.course_figures.p50_ms:.2f} x**;"
        f" goal p50 ≤ {COURSE_GOAL_MS:.0f} ms — {rd.course_handler.p50_ms:.1f} ms, "
        f"{_met(rd.course_handler.p50_ms <= COURSE_GOAL_MS)}. Learner progress: handler p50 / figures p50 "
        f"**{rd.progress_handler.p50_ms / rd.progress_figures.p50_ms:.2f} x**; goal p50 ≤ {PROGRESS_GOAL_MS:.0f} ms"
        f" — {rd.progress_handler.p50_ms:.1f} ms, {_met(rd.progress_handler.p50_ms <= PROGRESS_GOAL_MS)}. The "
        f"health handler's p50 ({rd.health.p50_ms:.2f} ms) is the floor of any handler here.",
        "",
        f"The course analytics' statements for the largest course ({rd.course_enrollments[1]:,} enrollments), "
        "EXPLAIN (ANALYZE, BUFFERS) of each as the figures run it:",
        "",
        "| Statement | execution ms | buffers hit / read (top node) | access paths |",
        "|---|---:|---:|---|",
        *plan_summary(rd.plans),
        "",
        "`progress_facts` is "
        + ("**scanned** by: " + ", ".join(f"`{label}`" for label, plan in rd.plans if "progress_facts" in plan)
           if any("progress_facts" in plan for _, plan in rd.plans) else "never touched")
        + "; every figure comes from the roll-ups (`enrollments`, `activity_days`, `asset_progress`, `course_daily`"
        ", `modules`, `courses`).",
        "",
        "<details><summary>EXPLAIN (ANALYZE, BUFFERS) of the course analytics' statements</summary>",
        "",
        "```",
        "\n\n".join(f"-- {label}\n{plan}" for label, plan in rd.plans),
        "```",
        "",
        "</details>",
    ]
    lines += ["", "### Course HTML report", ""]
    if rep is None:
        lines.append("Not measured: " + ", ".join(missing) + ".")
    else:
        build = statistics.median(rep.build_ms) / 1000
        lines += [
            f"The largest course (*{rep.course_title}*, {rep.learners:,} learners), {len(rep.build_ms)} times: "
            f"`POST /reports` as its owner ({statistics.median(rep.request_ms):.0f} ms, 202: row and SQS message), "
            "then the SQS record as the event source mapping delivers it to `analytics-build-report`, timed until "
            f"the object is in S3 (the handler's return, the row's `s3_key`, a HEAD of the object): median "
            f"**{build:.2f} s** (runs: {', '.join(f'{ms / 1000:.2f}' for ms in rep.build_ms)} s), "
            f"{rep.size_bytes / 1024:,.0f} KiB of HTML with its SVG charts and the learner table. Goal ≤ "
            f"{REPORT_GOAL_S:.0f} s — {_met(build <= REPORT_GOAL_S)}.",
        ]
    lines += ["", "### Replay of the archive", ""]
    if rp is None:
        lines.append("Not measured: " + ", ".join(missing) + ".")
    else:
        c = rp.counts
        lines += [
            f"The archive after the load: {rp.archive_objects:,} objects, {rp.archive_bytes / 2**20:,.0f} MiB of "
            "gzip JSON Lines in the emulated S3. `analytics-replay` (the deployed function: one transaction that "
            "empties the read models and feeds the archive, day by day and topic by topic, to the consumer's "
            f"`ingest`) read {c['objects']:,} objects and {c['events']:,} events and applied {c['applied']:,} "
            f"(skipped {c['skipped']:,}, failed {c['failed']:,}) in **{rp.seconds:.0f} s** "
            f"({c['events'] / rp.seconds:,.0f} events/s). Goal ≤ {REPLAY_GOAL_S:.0f} s — "
            f"{_met(rp.seconds <= REPLAY_GOAL_S)}. Afterwards the course analytics of {rp.courses_compared} "
            f"courses are {'equal' if rp.courses_equal == rp.courses_compared else 'NOT equal'} to before "
            f"({rp.courses_equal}/{rp.courses_compared}), and the progress of {rp.learners_compared} learners "
            f"{'equal' if rp.learners_equal == rp.learners_compared else 'NOT equal'} "
            f"({rp.learners_equal}/{rp.learners_compared}).",
        ]
    rows, database_mb = sizes
    lines += [
        "",
        "### The database after the load",
        "",
        f"Database size {database_mb:,.0f} MB (after the replay: its DELETEs leave dead rows until VACUUM).",
        "",
        "| Table | rows | MB with indexes |",
        "|---|---:|---:|",
        *(f"| `{name}` | {count:,} | {mb:,.1f} |" for name, count, mb in rows),
    ]
    if missing:
        lines += ["", "Not measured: " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------


_FUNCTIONS = ("analytics-consume-events", "analytics-archive-events", "analytics-course", "analytics-me-progress",
              "analytics-health", "analytics-reports-create", "analytics-build-report", "analytics-replay")


def _missing() -> list[str]:
    from smartcourse_analytics.catalogue import function

    root = Path(__file__).resolve().parents[2] / "functions"
    return [n for n in _FUNCTIONS if n != "analytics-health"
            and not (root / (function(n).module.replace(".", "/") + ".py")).exists()]


def _attempt(measure: Callable[[], Any], what: str, failures: list[str], log: Callable[[str], None]) -> Any:
    """``measure()``, or None with the failure noted (the figures measured before it are kept)."""
    try:
        return measure()
    except Exception as exc:
        log(f"analytics-perf: {what} failed: {type(exc).__name__}: {exc}")
        failures.append(f"{what} failed ({type(exc).__name__}: {str(exc)[:200]})")
        return None


@contextlib.contextmanager
def _moto() -> Iterator[Any]:
    from localcloud.services import MotoService, free_port

    with tempfile.TemporaryDirectory(prefix="smartcourse-analytics-moto-") as state:
        service = MotoService(port=free_port(), log_path=Path(state) / "moto.log")
        service.start()
        try:
            yield service
        finally:
            service.stop()


def run(log: Callable[[str], None] = print) -> str:
    """Every analytics measure; the markdown section (also printed)."""
    import boto3
    from smartcourse.db.engine import normalise_url
    from smartcourse.db.migrate import upgrade
    from sqlalchemy import create_engine

    from tests.benchmarks.ai_eval import postgres_server

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    missing = _missing()
    failures: list[str] = []
    if {"analytics-consume-events", "analytics-course", "analytics-me-progress"} & set(missing):
        raise RuntimeError(f"analytics functions missing: {missing}")
    log(f"analytics-perf: planning {BENCH_EVENTS:,} progress events…")
    world = plan_world()
    log(f"analytics-perf: {len(world.items):,} events planned in {world.plan_s:.1f} s")
    with postgres_server("smartcourse-analytics-perf-") as server, _moto() as moto:
        url = server.database_url("analytics_bench")
        upgrade(url, service="analytics")
        aws = {"endpoint_url": moto.endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
               "aws_secret_access_key": "testing"}
        s3, sqs = boto3.client("s3", **aws), boto3.client("sqs", **aws)
        for bucket in (ARCHIVE_BUCKET, REPORTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        queue_url = sqs.create_queue(QueueName="analytics-reports")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="analytics-consumer-dlq")["QueueUrl"]
        engine = create_engine(normalise_url(url), pool_size=2, max_overflow=2)
        try:
            with environment(function_environment(url, moto.endpoint, queue_url, dlq_url)):
                # Every handler (and what it imports) now: the run measures one version of the code.
                for name in _FUNCTIONS:
                    if name not in missing:
                        handler_of(name)
                log("analytics-perf: ingest (consumer and archiver)…")
                ing = ingest(world, log)
                log(f"analytics-perf: {time.perf_counter() - started:.0f} s; consumer {ing.rate:,.0f} events/s; "
                    "VACUUM ANALYZE…")
                with engine.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
                rd = reads(world, engine, log)
                log(f"analytics-perf: course p50 {rd.course_handler.p50_ms:.1f} ms, progress p50 "
                    f"{rd.progress_handler.p50_ms:.1f} ms; report…")
                rep = _attempt(lambda: report(world, engine, s3, sqs, queue_url), "the report", failures, log) \
                    if not {"analytics-reports-create", "analytics-build-report"} & set(missing) else None
                log(f"analytics-perf: {time.perf_counter() - started:.0f} s; replay…")
                rp = _attempt(lambda: replay(world, engine, s3), "the replay", failures, log) \
                    if "analytics-replay" not in missing else None
                sizes = table_sizes(engine)
        finally:
            engine.dispose()
    section = render(world, ing, rd, rep, rp, sizes, time.perf_counter() - started,
                     (load_start, os.getloadavg()[0]), [*missing, *failures])
    log(section)
    return section


if __name__ == "__main__":
    run()
    sys.exit(0)
