"""Use cases of enrollments, learner progress and certificates. Each opens one unit of work; handlers call these.

The rules are the pure functions of ``smartcourse_lms.learning`` (enroll_decision, check_status_change,
merge_progress, summarise, completes_course, new_serial, render_certificate_html); this module loads
state, applies them, stores and emits. Two locks keep the rules true under concurrency:

* enrolling locks the **course** row before counting active enrollments, so parallel enrollments
  into a nearly full course are serialised and capacity holds;
* a progress update locks the **enrollment** row, so parallel updates of one learner are serialised
  and the course completes (and its certificate is issued) exactly once. The unique constraint on
  ``certificates.enrollment_id`` is the backstop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.errors import Conflict, Forbidden, NotFound, ValidationFailed
from smartcourse.pagination import DEFAULT_LIMIT
from sqlalchemy import Connection

from smartcourse_lms.auth.domain import Principal
from smartcourse_lms.courses import repository as courses_repo
from smartcourse_lms.courses.repository import CourseRecord
from smartcourse_lms.courses.service import COURSE_NOT_FOUND, Page
from smartcourse_lms.enrollments import repository as repo
from smartcourse_lms.enrollments.repository import AssetProgressRecord, CertificateRecord, EnrollmentRecord
from smartcourse_lms.learning.certificates import (
    CertificateDocument,
    is_valid_serial,
    new_serial,
    render_certificate_html,
    verification_url,
)
from smartcourse_lms.learning.courses import CourseStatus, capacity_allows, is_staff
from smartcourse_lms.learning.enrollments import (
    EnrollAction,
    EnrollmentState,
    EnrollmentStatus,
    apply_status,
    check_status_change,
    enroll_decision,
)
from smartcourse_lms.learning.prerequisites import missing_prerequisites
from smartcourse_lms.learning.progress import (
    AssetProgress,
    CourseProgressSummary,
    ProgressUpdate,
    completes_course,
    merge_progress,
    percent_of,
    summarise,
)

ENROLLMENT_NOT_FOUND = "Enrollment not found"
ASSET_NOT_FOUND = "Asset not found"
CERTIFICATE_NOT_FOUND = "Certificate not found"
CERTIFICATE_PREFIX = "certificates/"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def certificate_key(certificate_id: uuid.UUID) -> str:
    return f"{CERTIFICATE_PREFIX}{certificate_id}.html"


@dataclass(frozen=True)
class EnrollmentView:
    enrollment: EnrollmentRecord
    course_title: str
    percent_complete: float


@dataclass(frozen=True)
class EnrollResult:
    enrollment: EnrollmentRecord
    created: bool


@dataclass(frozen=True)
class ModuleProgress:
    module_id: uuid.UUID
    title: str
    percent_complete: float


@dataclass(frozen=True)
class CourseProgress:
    enrollment: EnrollmentRecord
    summary: CourseProgressSummary
    time_spent_seconds: int
    modules: list[ModuleProgress]
    assets: list[AssetProgressRecord]


@dataclass(frozen=True)
class ProgressResult:
    asset: AssetProgressRecord
    course: CourseProgressSummary
    enrollment: EnrollmentRecord
    certificate: CertificateRecord | None


class CertificateStore:
    """Where rendered certificates live (S3 through ``smartcourse.storage``); replaceable in tests."""

    def __init__(self, bucket: Callable[[], str | None]) -> None:
        self._bucket = bucket

    def bucket(self) -> str:
        name = self._bucket()
        if not name:
            raise RuntimeError("CERTIFICATE_BUCKET is not configured for this function")
        return name

    def put(self, key: str, html: str) -> None:
        from smartcourse import storage

        storage.put(self.bucket(), key, html.encode("utf-8"), "text/html; charset=utf-8")

    def url(self, key: str) -> str:
        from smartcourse import storage

        return storage.presign_get(self.bucket(), key)


class EnrollmentService:
    def __init__(self, unit_of_work: Callable[[], UnitOfWork], *, store: CertificateStore,
                 public_base_url: Callable[[], str], clock: Callable[[], datetime] = _utc_now,
                 serials: Callable[[], str] = new_serial) -> None:
        self._uow = unit_of_work
        self._store = store
        self._base_url = public_base_url
        self._clock = clock
        self._serials = serials

    # --- loading with access checks ----------------------------------------------------------------------

    @staticmethod
    def _course(conn: Connection, course_id: uuid.UUID, *, for_update: bool = False) -> CourseRecord:
        course = courses_repo.get_course(conn, course_id, for_update=for_update)
        if course is None:
            raise NotFound(COURSE_NOT_FOUND)
        return course

    def _visible_enrollment(self, conn: Connection, actor: Principal, enrollment_id: uuid.UUID, *,
                            for_update: bool = False) -> tuple[EnrollmentRecord, CourseRecord]:
        """The enrollment if the actor is its learner or course staff; 404 otherwise (not disclosed)."""
        enrollment = repo.get_enrollment(conn, enrollment_id, for_update=for_update)
        if enrollment is None:
            raise NotFound(ENROLLMENT_NOT_FOUND)
        course = self._course(conn, enrollment.course_id)
        if enrollment.user_id != actor.user_id and not is_staff(course.instructor_id, actor):
            raise NotFound(ENROLLMENT_NOT_FOUND)
        return enrollment, course

    # --- enrollments -------------------------------------------------------------------------------------

    def enroll(self, actor: Principal, data: Mapping[str, Any]) -> EnrollResult:
        course_id: uuid.UUID = data["course_id"]
        user_id: uuid.UUID = data.get("user_id") or actor.user_id
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            # The course row lock serialises every enrollment into this course: the active count below
            # cannot change until this transaction ends, so capacity holds under concurrency.
            course = self._course(conn, course_id, for_update=True)
            if user_id != actor.user_id:
                if not is_staff(course.instructor_id, actor):
                    raise Forbidden("Only the course's instructor or an admin may enroll someone else")
                if not repo.user_exists(conn, user_id):
                    raise ValidationFailed("Unknown user", [{"loc": ["body", "user_id"], "msg": "unknown user",
                                                             "type": "value_error"}])
            existing = repo.find_enrollment(conn, user_id, course_id, for_update=True)
            completed = repo.completed_course_ids(conn, user_id)
            refs = {ref.id: ref for ref in repo.prerequisite_refs(conn, course_id)}
            missing = [refs[i] for i in missing_prerequisites(list(refs), completed)]
            action = enroll_decision(CourseStatus(course.status),
                                     EnrollmentStatus(existing.status) if existing else None, missing,
                                     capacity_allows(course.max_students,
                                                     courses_repo.active_enrollments(conn, course_id)))
            if action is EnrollAction.RETURN_EXISTING:
                assert existing is not None
                return EnrollResult(existing, created=False)
            source = data.get("source") or ("self" if user_id == actor.user_id else "staff")
            if action is EnrollAction.REACTIVATE:
                assert existing is not None
                enrollment_id = existing.id
                repo.update_enrollment(conn, enrollment_id, {"status": EnrollmentStatus.ACTIVE.value,
                                                             "dropped_at": None})
            else:
                enrollment_id = uuid.uuid4()
                repo.insert_enrollment(conn, {"id": enrollment_id, "user_id": user_id, "course_id": course_id,
                                              "status": EnrollmentStatus.ACTIVE.value, "source": source,
                                              "enrolled_at": now})
            from smartcourse_events.enrollment import EnrollmentCreatedV1

            enrollment = repo.get_enrollment(conn, enrollment_id)
            assert enrollment is not None
            uow.emit(EnrollmentCreatedV1(enrollment_id=enrollment_id, user_id=user_id, course_id=course_id,
                                         source=source, enrolled_at=enrollment.enrolled_at), occurred_at=now)
            uow.commit()
        return EnrollResult(enrollment, created=action is EnrollAction.CREATE)

    def _views(self, conn: Connection, rows: list[tuple[EnrollmentRecord, str]]) -> list[EnrollmentView]:
        counts = repo.completion_counts(conn, [e.id for e, _ in rows])
        return [EnrollmentView(e, title, percent_of(*counts.get(e.id, (0, 0)))) for e, title in rows]

    def list_mine(self, actor: Principal, *, status: str | None = None, limit: int = DEFAULT_LIMIT,
                  offset: int = 0) -> Page[EnrollmentView]:
        return self.list_for_user(actor, actor.user_id, status=status, limit=limit, offset=offset)

    def list_for_user(self, actor: Principal, user_id: uuid.UUID, *, status: str | None = None,
                      limit: int = DEFAULT_LIMIT, offset: int = 0) -> Page[EnrollmentView]:
        if user_id != actor.user_id and not actor.is_admin:
            raise Forbidden("Only the user themself or an admin may list these enrollments")
        with self._uow() as uow:
            conn = uow.connection
            rows, total = repo.list_enrollments(conn, user_id=user_id, status=status, limit=limit, offset=offset)
            return Page(self._views(conn, rows), total, limit, offset)

    def list_for_course(self, actor: Principal, course_id: uuid.UUID, *, status: str | None = None,
                        limit: int = DEFAULT_LIMIT, offset: int = 0) -> Page[EnrollmentView]:
        with self._uow() as uow:
            conn = uow.connection
            course = self._course(conn, course_id)
            if not is_staff(course.instructor_id, actor):
                if course.status != CourseStatus.PUBLISHED.value:
                    raise NotFound(COURSE_NOT_FOUND)
                raise Forbidden("Only the course's instructor or an admin may list its enrollments")
            rows, total = repo.list_enrollments(conn, course_id=course_id, status=status, limit=limit,
                                                offset=offset)
            return Page(self._views(conn, rows), total, limit, offset)

    def get_enrollment(self, actor: Principal, enrollment_id: uuid.UUID) -> EnrollmentView:
        with self._uow() as uow:
            conn = uow.connection
            enrollment, course = self._visible_enrollment(conn, actor, enrollment_id)
            return self._views(conn, [(enrollment, course.title)])[0]

    def change_status(self, actor: Principal, enrollment_id: uuid.UUID, requested: EnrollmentStatus
                      ) -> EnrollmentView:
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            probe, _ = self._visible_enrollment(conn, actor, enrollment_id)
            # Lock order course → enrollment, as enrolling does; capacity is re-checked on reactivation.
            course = self._course(conn, probe.course_id, for_update=True)
            enrollment, _ = self._visible_enrollment(conn, actor, enrollment_id, for_update=True)
            current = EnrollmentStatus(enrollment.status)
            check_status_change(actor, enrollment.user_id, current, requested)
            if requested is not current:
                if (requested is EnrollmentStatus.ACTIVE and current is EnrollmentStatus.DROPPED
                        and not capacity_allows(course.max_students,
                                                courses_repo.active_enrollments(conn, course.id))):
                    raise Conflict("Course is full")
                state = apply_status(EnrollmentState(current, enrollment.enrolled_at, enrollment.completed_at,
                                                     enrollment.dropped_at), requested, now)
                repo.update_enrollment(conn, enrollment_id, {"status": state.status.value,
                                                             "completed_at": state.completed_at,
                                                             "dropped_at": state.dropped_at})
                from smartcourse_events.enrollment import (
                    EnrollmentCompletedV1,
                    EnrollmentCreatedV1,
                    EnrollmentDroppedV1,
                )

                ids = {"enrollment_id": enrollment.id, "user_id": enrollment.user_id, "course_id": course.id}
                if requested is EnrollmentStatus.DROPPED:
                    uow.emit(EnrollmentDroppedV1(**ids), occurred_at=now)
                elif requested is EnrollmentStatus.ACTIVE:
                    uow.emit(EnrollmentCreatedV1(**ids, source="reactivated", enrolled_at=enrollment.enrolled_at),
                             occurred_at=now)
                else:
                    assert state.completed_at is not None
                    uow.emit(EnrollmentCompletedV1(**ids, completed_at=state.completed_at), occurred_at=now)
            updated = repo.get_enrollment(conn, enrollment_id)
            assert updated is not None
            view = self._views(conn, [(updated, course.title)])[0]
            uow.commit()
        return view

    def delete_enrollment(self, actor: Principal, enrollment_id: uuid.UUID) -> None:
        if not actor.is_admin:
            raise Forbidden("Only an admin may delete an enrollment; learners drop instead")
        with self._uow() as uow:
            conn = uow.connection
            if repo.get_enrollment(conn, enrollment_id, for_update=True) is None:
                raise NotFound(ENROLLMENT_NOT_FOUND)
            repo.delete_enrollment(conn, enrollment_id)
            uow.commit()

    # --- progress ----------------------------------------------------------------------------------------

    def _summary(self, conn: Connection, enrollment: EnrollmentRecord) -> tuple[CourseProgressSummary,
                                                                                 list[tuple[Any, list[Any]]],
                                                                                 list[AssetProgressRecord]]:
        outline = courses_repo.outline(conn, enrollment.course_id)
        progress = repo.list_progress(conn, enrollment.id)
        completed = {p.asset_id for p in progress if p.completed_at is not None}
        summary = summarise({m.id: [a.id for a in items] for m, items in outline}, completed)
        return summary, outline, progress

    def record_progress(self, actor: Principal, asset_id: uuid.UUID, data: Mapping[str, Any]) -> ProgressResult:
        update = ProgressUpdate(progress_percent=data.get("progress_percent"),
                                is_completed=bool(data.get("is_completed")),
                                time_spent_seconds=int(data.get("time_spent_seconds") or 0))
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            asset = repo.get_asset_ref(conn, asset_id)
            if asset is None:
                raise NotFound(ASSET_NOT_FOUND)
            if data.get("enrollment_id") is not None:
                found = repo.get_enrollment(conn, data["enrollment_id"])
                if found is None:
                    raise NotFound(ENROLLMENT_NOT_FOUND)
            else:
                found = repo.find_enrollment(conn, actor.user_id, asset.course_id)
                if found is None:
                    raise Forbidden("You are not enrolled in this asset's course")
            if found.user_id != actor.user_id and not actor.is_admin:
                raise Forbidden("Only the enrolled learner or an admin may record progress")
            # The enrollment row lock serialises this learner's updates: completion happens once.
            enrollment = repo.get_enrollment(conn, found.id, for_update=True)
            assert enrollment is not None
            if asset.course_id != enrollment.course_id:
                raise ValidationFailed("The asset does not belong to the enrollment's course",
                                       [{"loc": ["path", "asset_id"], "msg": "asset not in the enrollment's course",
                                         "type": "value_error"}])
            if enrollment.status == EnrollmentStatus.DROPPED.value:
                raise Conflict("The enrollment is dropped; re-enroll to record progress")
            previous = repo.get_progress(conn, enrollment.id, asset_id)
            before = (AssetProgress(previous.progress_percent, previous.time_spent_seconds,
                                    previous.updated_at or now, previous.completed_at) if previous else None)
            merged = merge_progress(before, update, now)
            repo.save_progress(conn, enrollment.id, asset_id, progress_percent=merged.progress_percent,
                               time_spent_seconds=merged.time_spent_seconds, completed_at=merged.completed_at,
                               now=now)
            summary, _, _ = self._summary(conn, enrollment)
            from smartcourse_events.progress import ProgressUpdatedV1

            uow.emit(ProgressUpdatedV1(enrollment_id=enrollment.id, user_id=enrollment.user_id,
                                       course_id=enrollment.course_id, asset_id=asset_id, module_id=asset.module_id,
                                       progress_percent=merged.progress_percent,
                                       time_spent_delta=update.time_spent_seconds,
                                       course_percent=summary.percent_complete), occurred_at=now)
            certificate = None
            if completes_course(EnrollmentStatus(enrollment.status), summary.percent_complete):
                certificate = self._complete(uow, enrollment, now)
            saved = repo.get_progress(conn, enrollment.id, asset_id)
            final = repo.get_enrollment(conn, enrollment.id)
            assert saved is not None and final is not None
            uow.commit()
        return ProgressResult(saved, summary, final, certificate)

    def _complete(self, uow: UnitOfWork, enrollment: EnrollmentRecord, now: datetime) -> CertificateRecord:
        """Enrollment → completed, a certificate issued and rendered to S3, both events: one transaction."""
        conn = uow.connection
        repo.update_enrollment(conn, enrollment.id, {"status": EnrollmentStatus.COMPLETED.value,
                                                     "completed_at": now})
        course = self._course(conn, enrollment.course_id)
        serial = self._serials()
        while repo.serial_taken(conn, serial):
            serial = self._serials()
        certificate_id = uuid.uuid4()
        key = certificate_key(certificate_id)
        name = repo.learner_name(conn, enrollment.user_id) or "Learner"
        repo.insert_certificate(conn, {"id": certificate_id, "serial_no": serial, "enrollment_id": enrollment.id,
                                       "user_id": enrollment.user_id, "course_id": course.id,
                                       "learner_name": name[:200], "course_title": course.title,
                                       "issued_at": now, "document_key": key})
        html = render_certificate_html(CertificateDocument(
            learner_name=name, course_title=course.title, issued_at=now, serial=serial,
            verification_url=verification_url(self._base_url(), serial)))
        # Written before the commit: if the commit fails the object is an orphan no row points to.
        self._store.put(key, html)
        from smartcourse_events.enrollment import CertificateIssuedV1, EnrollmentCompletedV1

        ids = {"enrollment_id": enrollment.id, "user_id": enrollment.user_id, "course_id": course.id}
        uow.emit(EnrollmentCompletedV1(**ids, completed_at=now), occurred_at=now)
        uow.emit(CertificateIssuedV1(**ids, certificate_id=certificate_id, serial_no=serial), occurred_at=now)
        certificate = repo.get_certificate(conn, certificate_id)
        assert certificate is not None
        return certificate

    def get_asset_progress(self, actor: Principal, asset_id: uuid.UUID, enrollment_id: uuid.UUID
                           ) -> AssetProgressRecord:
        with self._uow() as uow:
            conn = uow.connection
            enrollment, _ = self._visible_enrollment(conn, actor, enrollment_id)
            asset = repo.get_asset_ref(conn, asset_id)
            if asset is None or asset.course_id != enrollment.course_id:
                raise NotFound(ASSET_NOT_FOUND)
            found = repo.get_progress(conn, enrollment_id, asset_id)
            return found or AssetProgressRecord(enrollment_id, asset_id, 0.0, 0, None, None)

    def get_course_progress(self, actor: Principal, course_id: uuid.UUID, enrollment_id: uuid.UUID
                            ) -> CourseProgress:
        with self._uow() as uow:
            conn = uow.connection
            enrollment, _ = self._visible_enrollment(conn, actor, enrollment_id)
            if enrollment.course_id != course_id:
                raise NotFound(ENROLLMENT_NOT_FOUND)
            summary, outline, progress = self._summary(conn, enrollment)
            by_asset = {p.asset_id: p for p in progress}
            ordered = [by_asset[a.id] for _, items in outline for a in items if a.id in by_asset]
            modules = [ModuleProgress(m.id, m.title, summary.modules.get(m.id, 0.0)) for m, _ in outline]
            return CourseProgress(enrollment, summary, sum(p.time_spent_seconds for p in progress), modules,
                                  ordered)

    # --- certificates ------------------------------------------------------------------------------------

    def certificate_url(self, certificate: CertificateRecord) -> str | None:
        return self._store.url(certificate.document_key) if certificate.document_key else None

    def list_my_certificates(self, actor: Principal, *, limit: int = DEFAULT_LIMIT, offset: int = 0
                             ) -> Page[CertificateRecord]:
        with self._uow() as uow:
            items, total = repo.list_certificates(uow.connection, actor.user_id, limit=limit, offset=offset)
        return Page(items, total, limit, offset)

    def get_certificate(self, actor: Principal, certificate_id: uuid.UUID) -> CertificateRecord:
        with self._uow() as uow:
            conn = uow.connection
            certificate = repo.get_certificate(conn, certificate_id)
            if certificate is None:
                raise NotFound(CERTIFICATE_NOT_FOUND)
            if certificate.user_id != actor.user_id and not actor.is_admin:
                course = courses_repo.get_course(conn, certificate.course_id)
                if course is None or not is_staff(course.instructor_id, actor):
                    raise NotFound(CERTIFICATE_NOT_FOUND)
            return certificate

    def verify(self, serial_no: str) -> CertificateRecord:
        serial = serial_no.strip().upper()
        if not is_valid_serial(serial):
            raise NotFound(CERTIFICATE_NOT_FOUND)
        with self._uow() as uow:
            certificate = repo.certificate_by_serial(uow.connection, serial)
        if certificate is None:
            raise NotFound(CERTIFICATE_NOT_FOUND)
        return certificate


def enrollment_service_from_settings() -> EnrollmentService:
    from smartcourse.db.engine import get_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from smartcourse.settings import get_settings

    return EnrollmentService(unit_of_work_factory(get_engine),
                             store=CertificateStore(lambda: get_settings().certificate_bucket),
                             public_base_url=lambda: get_settings().public_base_url)


_service: EnrollmentService | None = None


def get_enrollment_service() -> EnrollmentService:
    """The process-wide service (built on first request, reused by warm invocations)."""
    global _service
    if _service is None:
        _service = enrollment_service_from_settings()
    return _service
