"""Reports: request (authorized, queued), list and get the caller's own, build one from the queue, and queue
the scheduled ones (an instructor's weekly digest, the admins' daily platform report).

A request inserts the row and sends the build message inside its transaction, before the commit: a message is
never lost for a committed row, and a worker that finds no row yet fails the message so that SQS delivers it
again (``ReportNotCommitted``). A build claims the row (``building``), computes the figures from one database
snapshot with the analytics routes' own functions, renders and stores the file, then marks the row ``ready``
and writes ``report.ready`` to the outbox in one transaction. A failure gives the row back to the queue, or
marks it ``failed`` with a message for its owner on the message's last delivery. A redelivered message for a
report that is ready (or failed) does nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.errors import DomainError, Forbidden, NotFound, Unavailable, ValidationFailed
from smartcourse.principal import Principal, Role
from smartcourse_events.analytics import ReportReadyV1
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from smartcourse_analytics import report_rendering as rendering
from smartcourse_analytics import tables as t
from smartcourse_analytics.domain import CourseStatus, ReportFormat, ReportStatus, ReportType
from smartcourse_analytics.metrics import period_problem
from smartcourse_analytics.report_queue import QueueUnavailable, report_key
from smartcourse_analytics.report_rendering import CourseFigures, ReportFigures
from smartcourse_analytics.report_schemas import ReportAccepted, ReportList, ReportPeriod, ReportRequest, ReportView
from smartcourse_analytics.service import staff_course

log = logging.getLogger("smartcourse_analytics.reports")

PRODUCER = "analytics"
DEFAULT_PERIOD_DAYS = 30
LEARNERS_PAGE = 1000
MAX_ERROR_CHARS = 500
INTERNAL_ERROR = "The report could not be built (internal error); request it again later."
# Serialises the firings of one schedule (a retried firing and the first one may overlap): transaction-scoped.
_SCHEDULE_LOCK = {"weekly": 0x5C0A_0001, "daily": 0x5C0A_0002}
_R = t.reports.c


class ReportNotCommitted(RuntimeError):
    """The build message arrived before its report row committed (or the request rolled back): retried."""


class Schedule(StrEnum):
    WEEKLY = "weekly"  # each instructor's digest of the last 7 days (Mondays)
    DAILY = "daily"  # the platform report of yesterday, for each admin


@dataclass(frozen=True)
class ReportPorts:
    """The AWS side (``report_queue``): queue builds, store a file, presign its download."""

    send_builds: Callable[[Sequence[uuid.UUID]], None]
    put_report: Callable[[str, str, str], None]
    download_url: Callable[[str], str]


class Figures:
    """The analytics routes' figures (``smartcourse_analytics.figures``), all read on one connection."""

    def course(self, conn: Connection, course_id: uuid.UUID, start: date, end: date, today: date) -> CourseFigures:
        from smartcourse_analytics import figures

        analytics = figures.course_analytics(conn, course_id, start, end, today=today)
        learners: list[dict[str, Any]] = []
        while True:
            page = figures.course_learners(conn, course_id, LEARNERS_PAGE, len(learners))
            learners.extend(page["items"])
            if not page["items"] or len(learners) >= int(page["total"]):
                break
        return CourseFigures(analytics, learners)

    def instructor(self, conn: Connection, instructor_id: uuid.UUID) -> list[dict[str, Any]]:
        from smartcourse_analytics import figures

        return list(figures.instructor_overview(conn, instructor_id)["items"])

    def platform(self, conn: Connection, start: date, end: date) -> dict[str, Any]:
        from smartcourse_analytics import figures

        overview = dict(figures.platform_overview(conn, start, end))
        overview["active_users_per_day"] = daily_active_users(conn, start, end)
        return overview


def daily_active_users(conn: Connection, start: date, end: date) -> list[dict[str, Any]]:
    """Users with any progress, per day of the period that has any (ix user_activity_days (day))."""
    u = t.user_activity_days.c
    rows = conn.execute(select(u.day, func.count()).where(u.day >= start, u.day <= end).group_by(u.day)
                        .order_by(u.day))
    return [{"date": day.isoformat(), "active_users": int(n)} for day, n in rows]


# --- authorization (no I/O beyond the course's owner) ---------------------------------------------------------


def authorize(conn: Connection, caller: Principal, report_type: ReportType, course_id: uuid.UUID | None) -> None:
    """Course: the course's staff (the analytics routes' rule: 404 unknown, 403 not staff); instructor: an
    instructor (their own courses) or an admin; platform: an admin."""
    if report_type == ReportType.COURSE:
        assert course_id is not None  # the request model requires it
        staff_course(conn, caller, course_id)
    elif report_type == ReportType.INSTRUCTOR:
        if not (caller.is_admin or caller.has_role(Role.INSTRUCTOR)):
            raise Forbidden("Only instructors and admins may request an instructor report")
    elif not caller.is_admin:
        raise Forbidden("Only admins may request the platform report")


def default_period(period_from: date | None, period_to: date | None, today: date) -> tuple[date, date]:
    """``to`` defaults to today, ``from`` to the 30 days ending at ``to`` (a ``from`` after today: that day)."""
    end = period_to or max(today, period_from or today)
    start = period_from or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return start, end


def check_period(start: date, end: date) -> None:
    """The period a request resolves to (a default end included) is one the figures can cover, or 422."""
    message = period_problem(start, end)
    if message:
        raise ValidationFailed(message, [{"loc": ["body", "from"], "msg": message, "type": "value_error"}])


def error_message(exc: BaseException) -> str:
    """What the owner reads about a failed build: a domain error's message, else a generic one (no trace)."""
    if isinstance(exc, DomainError):
        return f"The report could not be built: {exc.message}"[:MAX_ERROR_CHARS]
    return INTERNAL_ERROR


def schedule_period(schedule: Schedule, fired_at: datetime) -> tuple[date, date]:
    """The period a firing covers, in whole UTC days before the firing's day: 7 days (weekly) or yesterday."""
    today = fired_at.astimezone(UTC).date()
    days = 7 if schedule == Schedule.WEEKLY else 1
    return today - timedelta(days=days), today - timedelta(days=1)


@dataclass(frozen=True)
class BuildOutcome:
    report_id: uuid.UUID
    status: str  # ready, or the status found when nothing was done (ready, failed)
    built: bool


class Reports:
    def __init__(self, engine: Callable[[], Engine], ports: ReportPorts, *,
                 figures: Figures | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._engine = engine
        self._ports = ports
        self._figures = figures or Figures()
        self._clock = clock

    @contextmanager
    def _unit(self) -> Iterator[UnitOfWork]:
        with UnitOfWork(self._engine(), producer=PRODUCER) as uow:
            yield uow

    # --- the API ---------------------------------------------------------------------------------------------

    def request(self, caller: Principal, body: ReportRequest) -> ReportAccepted:
        now = self._clock()
        start, end = default_period(body.period_from, body.period_to, now.date())
        check_period(start, end)
        report_id = uuid.uuid4()
        with self._unit() as uow:
            authorize(uow.connection, caller, body.type, body.course_id)
            uow.connection.execute(insert(t.reports).values(
                report_id=report_id, owner_user_id=caller.user_id, report_type=body.type.value,
                format=body.format.value, course_id=body.course_id, period_from=start, period_to=end,
                status=ReportStatus.QUEUED.value, scheduled=False, created_at=now))
            self._send([report_id])
            uow.commit()
        return ReportAccepted(report_id=report_id, status=ReportStatus.QUEUED)

    def list_own(self, caller: Principal, limit: int, offset: int) -> ReportList:
        with self._engine().connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.reports)
                                 .where(_R.owner_user_id == caller.user_id)).scalar_one()
            rows = conn.execute(select(t.reports).where(_R.owner_user_id == caller.user_id)
                                .order_by(_R.created_at.desc(), _R.report_id.desc()).limit(limit).offset(offset)).all()
        return ReportList(items=[self._view(r) for r in rows], total=int(total), limit=limit, offset=offset)

    def get(self, caller: Principal, report_id: uuid.UUID) -> ReportView:
        with self._engine().connect() as conn:
            row = conn.execute(select(t.reports).where(_R.report_id == report_id)).first()
        # Someone else's report is "not found": its existence is not the caller's business.
        if row is None or row.owner_user_id != caller.user_id:
            raise NotFound("Report not found")
        return self._view(row)

    def _view(self, row: Any) -> ReportView:
        ready = row.status == ReportStatus.READY.value and row.s3_key
        return ReportView(
            report_id=row.report_id, type=ReportType(row.report_type), format=ReportFormat(row.format),
            course_id=row.course_id, period=ReportPeriod.model_validate({"from": row.period_from, "to": row.period_to}),
            scheduled=row.scheduled, status=ReportStatus(row.status), created_at=row.created_at,
            ready_at=row.ready_at, error=row.error if row.status == ReportStatus.FAILED.value else None,
            download_url=self._ports.download_url(row.s3_key) if ready else None)

    def _send(self, report_ids: Sequence[uuid.UUID]) -> None:
        try:
            self._ports.send_builds(report_ids)
        except QueueUnavailable as exc:
            log.warning("report queue refused the build(s): %s", exc)
            raise Unavailable("The report queue did not answer; try again shortly") from exc

    # --- the builder -----------------------------------------------------------------------------------------

    def build(self, report_id: uuid.UUID, *, last_attempt: bool) -> BuildOutcome:
        claimed = self._claim(report_id)
        if claimed is None:
            raise ReportNotCommitted(f"report {report_id} not found (yet)")
        if claimed.status != ReportStatus.BUILDING.value:
            return BuildOutcome(report_id, claimed.status, built=False)
        try:
            key = self._render_and_store(claimed)
            self._finish(claimed, key)
        except Exception as exc:
            log.exception("report build failed", extra={"report_id": str(report_id), "last_attempt": last_attempt})
            self._give_back(report_id, exc, last_attempt)
            raise
        return BuildOutcome(report_id, ReportStatus.READY.value, built=True)

    def _claim(self, report_id: uuid.UUID) -> Any:
        """The row, now ``building`` (one attempt more); a ready or failed row is returned untouched."""
        with self._engine().begin() as conn:
            row = conn.execute(select(t.reports).where(_R.report_id == report_id).with_for_update()).first()
            if row is None or row.status in (ReportStatus.READY.value, ReportStatus.FAILED.value):
                return row
            return conn.execute(update(t.reports).where(_R.report_id == report_id).values(
                status=ReportStatus.BUILDING.value, started_at=self._clock(), attempts=_R.attempts + 1)
                .returning(*t.reports.c)).one()

    def _render_and_store(self, row: Any) -> str:
        figures = self._gather(row)
        html = row.format == ReportFormat.HTML.value
        body = rendering.render_html(figures) if html else rendering.render_csv(figures)
        key = report_key(row.owner_user_id, row.report_id, row.format)
        self._ports.put_report(key, body, row.format)
        return key

    def _gather(self, row: Any) -> ReportFigures:
        now = self._clock()
        start, end = row.period_from, row.period_to
        courses: list[CourseFigures] = []
        overview: list[dict[str, Any]] = []
        platform: dict[str, Any] = {}
        # One snapshot: the headline table, the charts and the learner list agree with each other.
        with self._engine().connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if row.report_type == ReportType.COURSE.value:
                    courses.append(self._figures.course(conn, row.course_id, start, end, now.date()))
                elif row.report_type == ReportType.INSTRUCTOR.value:
                    overview = self._figures.instructor(conn, row.owner_user_id)
                    courses = [self._figures.course(conn, uuid.UUID(str(item["course_id"])), start, end, now.date())
                               for item in overview]
                else:
                    platform = self._figures.platform(conn, start, end)
        return ReportFigures(report_type=ReportType(row.report_type), period_from=start, period_to=end,
                             generated_at=now, courses=courses, overview=overview, platform=platform,
                             scheduled=row.scheduled)

    def _finish(self, row: Any, key: str) -> None:
        with self._unit() as uow:
            done = uow.connection.execute(
                update(t.reports).where(_R.report_id == row.report_id, _R.status == ReportStatus.BUILDING.value)
                .values(status=ReportStatus.READY.value, s3_key=key, ready_at=self._clock(), error=None)
                .returning(_R.report_id)).first()
            if done is None:  # another delivery finished it meanwhile: its event is written already
                return
            uow.emit(ReportReadyV1(
                report_id=row.report_id, owner_user_id=row.owner_user_id, report_type=row.report_type,
                course_id=row.course_id, period_from=row.period_from, period_to=row.period_to, download_key=key,
                format=row.format, scheduled=row.scheduled), aggregate_id=row.report_id)
            uow.commit()  # nudges the outbox publisher after the commit

    def _give_back(self, report_id: uuid.UUID, exc: BaseException, last_attempt: bool) -> None:
        values: dict[str, Any] = ({"status": ReportStatus.FAILED.value, "error": error_message(exc)} if last_attempt
                                  else {"status": ReportStatus.QUEUED.value})
        try:
            with self._engine().begin() as conn:
                conn.execute(update(t.reports).where(_R.report_id == report_id,
                                                     _R.status == ReportStatus.BUILDING.value).values(**values))
        except Exception:  # the message's redelivery (or the DLQ) is the fallback
            log.exception("could not record the report's failure", extra={"report_id": str(report_id)})

    # --- the schedules ---------------------------------------------------------------------------------------

    def queue_scheduled(self, schedule: Schedule, fired_at: datetime | None = None) -> list[uuid.UUID]:
        """Queue this firing's reports: one per owner for the period, none for an owner who has it already."""
        now = self._clock()
        start, end = schedule_period(schedule, fired_at or now)
        report_type = ReportType.INSTRUCTOR if schedule == Schedule.WEEKLY else ReportType.PLATFORM
        with self._unit() as uow:
            conn = uow.connection
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEDULE_LOCK[schedule.value]})
            have = set(conn.execute(select(_R.owner_user_id).where(
                _R.scheduled.is_(True), _R.report_type == report_type.value, _R.period_from == start,
                _R.period_to == end)).scalars())
            owners = [o for o in self._schedule_owners(conn, schedule) if o not in have]
            report_ids = [uuid.uuid4() for _ in owners]
            if owners:
                conn.execute(insert(t.reports), [
                    {"report_id": report_id, "owner_user_id": owner, "report_type": report_type.value,
                     "format": ReportFormat.HTML.value, "course_id": None, "period_from": start, "period_to": end,
                     "status": ReportStatus.QUEUED.value, "scheduled": True, "created_at": now}
                    for report_id, owner in zip(report_ids, owners, strict=True)])
                self._send(report_ids)
            uow.commit()
        log.info("scheduled reports queued", extra={"schedule": schedule.value, "count": len(report_ids),
                                                    "period_from": start.isoformat(), "period_to": end.isoformat()})
        return report_ids

    @staticmethod
    def _schedule_owners(conn: Connection, schedule: Schedule) -> list[uuid.UUID]:
        if schedule == Schedule.WEEKLY:
            c = t.courses.c
            query = (select(c.instructor_id).where(c.status != CourseStatus.ARCHIVED.value).distinct()
                     .order_by(c.instructor_id))
        else:
            u = t.users.c
            query = select(u.user_id).where(u.roles.contains([Role.ADMIN.value])).order_by(u.user_id)
        return list(conn.execute(query).scalars())


@lru_cache(maxsize=1)
def get_reports() -> Reports:
    """The use cases wired to this process's engine and AWS clients."""
    from smartcourse import storage  # noqa: F401 - imported in init, not in the first request
    from smartcourse.db.engine import get_engine

    from smartcourse_analytics import report_queue

    return Reports(get_engine, ReportPorts(send_builds=report_queue.send_builds, put_report=report_queue.put_report,
                                           download_url=report_queue.download_url))
