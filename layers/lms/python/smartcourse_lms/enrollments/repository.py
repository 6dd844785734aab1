"""PostgreSQL queries for enrollments, asset progress and certificates (SQLAlchemy Core), rows mapped to records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from smartcourse_lms.learning.prerequisites import PrerequisiteRef
from smartcourse_lms.tables import (
    asset_progress,
    assets,
    certificates,
    course_prerequisites,
    courses,
    enrollments,
    modules,
    users,
)


@dataclass(frozen=True)
class EnrollmentRecord:
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    status: str
    source: str | None
    enrolled_at: datetime
    completed_at: datetime | None
    dropped_at: datetime | None


@dataclass(frozen=True)
class AssetProgressRecord:
    enrollment_id: uuid.UUID
    asset_id: uuid.UUID
    progress_percent: float
    time_spent_seconds: int
    completed_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class AssetRef:
    id: uuid.UUID
    module_id: uuid.UUID
    course_id: uuid.UUID


@dataclass(frozen=True)
class CertificateRecord:
    id: uuid.UUID
    serial_no: str
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    learner_name: str | None
    course_title: str
    issued_at: datetime
    document_key: str | None


def _enrollment(row: Row[Any]) -> EnrollmentRecord:
    m = row._mapping
    return EnrollmentRecord(**{k: m[k] for k in EnrollmentRecord.__dataclass_fields__})


def _certificate(row: Row[Any]) -> CertificateRecord:
    m = row._mapping
    return CertificateRecord(**{k: m[k] for k in CertificateRecord.__dataclass_fields__})


# --- enrollments -------------------------------------------------------------------------------------------


def get_enrollment(conn: Connection, enrollment_id: uuid.UUID, *, for_update: bool = False) -> EnrollmentRecord | None:
    query = select(enrollments).where(enrollments.c.id == enrollment_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return _enrollment(row) if row else None


def find_enrollment(conn: Connection, user_id: uuid.UUID, course_id: uuid.UUID, *,
                    for_update: bool = False) -> EnrollmentRecord | None:
    query = select(enrollments).where(enrollments.c.user_id == user_id, enrollments.c.course_id == course_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return _enrollment(row) if row else None


def insert_enrollment(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(enrollments).values(**values))


def update_enrollment(conn: Connection, enrollment_id: uuid.UUID, values: Mapping[str, Any]) -> None:
    conn.execute(update(enrollments).where(enrollments.c.id == enrollment_id).values(**values))


def delete_enrollment(conn: Connection, enrollment_id: uuid.UUID) -> None:
    # Progress rows cascade; a certificate references the enrollment without a cascade.
    conn.execute(delete(certificates).where(certificates.c.enrollment_id == enrollment_id))
    conn.execute(delete(enrollments).where(enrollments.c.id == enrollment_id))


def list_enrollments(conn: Connection, *, user_id: uuid.UUID | None = None, course_id: uuid.UUID | None = None,
                     status: str | None = None, limit: int, offset: int
                     ) -> tuple[list[tuple[EnrollmentRecord, str]], int]:
    """Enrollments (each with its course title), oldest first."""
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(enrollments.c.user_id == user_id)
    if course_id is not None:
        conditions.append(enrollments.c.course_id == course_id)
    if status is not None:
        conditions.append(enrollments.c.status == status)
    where = and_(*conditions)
    total = int(conn.execute(select(func.count()).select_from(enrollments).where(where)).scalar_one())
    rows = conn.execute(
        select(enrollments, courses.c.title.label("course_title"))
        .join(courses, courses.c.id == enrollments.c.course_id).where(where)
        .order_by(enrollments.c.enrolled_at, enrollments.c.id).limit(limit).offset(offset)).all()
    return [(_enrollment(r), str(r.course_title)) for r in rows], total


def completion_counts(conn: Connection, enrollment_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(completed assets, assets of the course now) per enrollment."""
    if not enrollment_ids:
        return {}
    course_assets = (select(modules.c.course_id, func.count(assets.c.id).label("total"))
                     .join(assets, assets.c.module_id == modules.c.id).group_by(modules.c.course_id).subquery())
    done = (select(asset_progress.c.enrollment_id, func.count().label("done"))
            .join(assets, assets.c.id == asset_progress.c.asset_id)
            .join(modules, modules.c.id == assets.c.module_id)
            .join(enrollments, enrollments.c.id == asset_progress.c.enrollment_id)
            .where(asset_progress.c.completed_at.is_not(None), modules.c.course_id == enrollments.c.course_id)
            .group_by(asset_progress.c.enrollment_id).subquery())
    rows = conn.execute(
        select(enrollments.c.id, func.coalesce(done.c.done, 0), func.coalesce(course_assets.c.total, 0))
        .outerjoin(done, done.c.enrollment_id == enrollments.c.id)
        .outerjoin(course_assets, course_assets.c.course_id == enrollments.c.course_id)
        .where(enrollments.c.id.in_(enrollment_ids))).all()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def prerequisite_refs(conn: Connection, course_id: uuid.UUID) -> list[PrerequisiteRef]:
    rows = conn.execute(select(courses.c.id, courses.c.title)
                        .join(course_prerequisites, course_prerequisites.c.prerequisite_id == courses.c.id)
                        .where(course_prerequisites.c.course_id == course_id)
                        .order_by(courses.c.title, courses.c.id)).all()
    return [PrerequisiteRef(r.id, r.title) for r in rows]


def completed_course_ids(conn: Connection, user_id: uuid.UUID) -> set[uuid.UUID]:
    rows = conn.execute(select(enrollments.c.course_id)
                        .where(enrollments.c.user_id == user_id, enrollments.c.status == "completed")).all()
    return {r[0] for r in rows}


def user_exists(conn: Connection, user_id: uuid.UUID) -> bool:
    return conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None


def learner_name(conn: Connection, user_id: uuid.UUID) -> str | None:
    row = conn.execute(select(users.c.full_name, users.c.email).where(users.c.id == user_id)).first()
    if row is None:
        return None
    return str(row.full_name or row.email)


# --- progress ----------------------------------------------------------------------------------------------


def get_asset_ref(conn: Connection, asset_id: uuid.UUID) -> AssetRef | None:
    row = conn.execute(select(assets.c.id, assets.c.module_id, modules.c.course_id)
                       .join(modules, modules.c.id == assets.c.module_id).where(assets.c.id == asset_id)).first()
    return AssetRef(row.id, row.module_id, row.course_id) if row else None


def _progress(row: Row[Any]) -> AssetProgressRecord:
    m = row._mapping
    return AssetProgressRecord(enrollment_id=m["enrollment_id"], asset_id=m["asset_id"],
                               progress_percent=float(m["progress_percent"]),
                               time_spent_seconds=int(m["time_spent_seconds"]), completed_at=m["completed_at"],
                               updated_at=m["updated_at"])


def get_progress(conn: Connection, enrollment_id: uuid.UUID, asset_id: uuid.UUID) -> AssetProgressRecord | None:
    row = conn.execute(select(asset_progress).where(asset_progress.c.enrollment_id == enrollment_id,
                                                    asset_progress.c.asset_id == asset_id)).first()
    return _progress(row) if row else None


def list_progress(conn: Connection, enrollment_id: uuid.UUID) -> list[AssetProgressRecord]:
    rows = conn.execute(select(asset_progress).where(asset_progress.c.enrollment_id == enrollment_id)).all()
    return [_progress(r) for r in rows]


def save_progress(conn: Connection, enrollment_id: uuid.UUID, asset_id: uuid.UUID, *, progress_percent: float,
                  time_spent_seconds: int, completed_at: datetime | None, now: datetime) -> None:
    values = {"progress_percent": Decimal(str(progress_percent)).quantize(Decimal("0.01")),
              "time_spent_seconds": time_spent_seconds, "completed_at": completed_at, "updated_at": now}
    conn.execute(pg_insert(asset_progress).values(id=uuid.uuid4(), enrollment_id=enrollment_id, asset_id=asset_id,
                                                  **values)
                 .on_conflict_do_update(index_elements=["enrollment_id", "asset_id"], set_=values))


# --- certificates ------------------------------------------------------------------------------------------


def insert_certificate(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(certificates).values(**values))


def serial_taken(conn: Connection, serial_no: str) -> bool:
    return conn.execute(select(certificates.c.id).where(certificates.c.serial_no == serial_no)).first() is not None


def get_certificate(conn: Connection, certificate_id: uuid.UUID) -> CertificateRecord | None:
    row = conn.execute(select(certificates).where(certificates.c.id == certificate_id)).first()
    return _certificate(row) if row else None


def certificate_by_serial(conn: Connection, serial_no: str) -> CertificateRecord | None:
    row = conn.execute(select(certificates).where(certificates.c.serial_no == serial_no)).first()
    return _certificate(row) if row else None


def certificate_of_enrollment(conn: Connection, enrollment_id: uuid.UUID) -> CertificateRecord | None:
    row = conn.execute(select(certificates).where(certificates.c.enrollment_id == enrollment_id)).first()
    return _certificate(row) if row else None


def list_certificates(conn: Connection, user_id: uuid.UUID, *, limit: int, offset: int
                      ) -> tuple[list[CertificateRecord], int]:
    where = certificates.c.user_id == user_id
    total = int(conn.execute(select(func.count()).select_from(certificates).where(where)).scalar_one())
    rows = conn.execute(select(certificates).where(where)
                        .order_by(certificates.c.issued_at.desc(), certificates.c.id).limit(limit)
                        .offset(offset)).all()
    return [_certificate(r) for r in rows], total
