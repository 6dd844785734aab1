"""PostgreSQL queries for courses, prerequisites and modules (SQLAlchemy Core), rows mapped to records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from smartcourse_lms.tables import COURSE_SEARCH_SQL, assets, course_prerequisites, courses, enrollments, modules

# Transaction-scoped advisory lock serialising prerequisite-graph changes (two concurrent links cannot close a cycle).
PREREQUISITE_GRAPH_LOCK = 0x5C0_0001


@dataclass(frozen=True)
class CourseRecord:
    id: uuid.UUID
    title: str
    description: str | None
    status: str
    processing_status: str
    instructor_id: uuid.UUID
    max_students: int | None
    category: str | None
    level: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    modules_count: int = 0
    enrolled_count: int = 0


@dataclass(frozen=True)
class ModuleRecord:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    description: str | None
    order_index: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AssetRow:
    id: uuid.UUID
    module_id: uuid.UUID
    title: str
    asset_type: str
    status: str
    source_url: str | None
    description: str | None = None


_MODULES_COUNT = (select(func.count()).select_from(modules).where(modules.c.course_id == courses.c.id)
                  .scalar_subquery().label("modules_count"))
_ENROLLED_COUNT = (select(func.count()).select_from(enrollments)
                   .where(enrollments.c.course_id == courses.c.id, enrollments.c.status == "active")
                   .scalar_subquery().label("enrolled_count"))


def _course(row: Row[Any]) -> CourseRecord:
    m = row._mapping
    return CourseRecord(**{k: m[k] for k in CourseRecord.__dataclass_fields__ if k in m})


def _module(row: Row[Any]) -> ModuleRecord:
    m = row._mapping
    return ModuleRecord(**{k: m[k] for k in ModuleRecord.__dataclass_fields__})


# --- courses -----------------------------------------------------------------------------------------------


def get_course(conn: Connection, course_id: uuid.UUID, *, for_update: bool = False) -> CourseRecord | None:
    # Lock the course row alone (the counting subqueries cannot be locked), then read it with its counts.
    locked = select(courses.c.id).where(courses.c.id == course_id).with_for_update()
    if for_update and conn.execute(locked).first() is None:
        return None
    row = conn.execute(select(courses, _MODULES_COUNT, _ENROLLED_COUNT).where(courses.c.id == course_id)).first()
    return _course(row) if row else None


def insert_course(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(courses).values(**values))


def update_course(conn: Connection, course_id: uuid.UUID, values: Mapping[str, Any], now: datetime) -> None:
    conn.execute(update(courses).where(courses.c.id == course_id).values(**values, updated_at=now))


def delete_course(conn: Connection, course_id: uuid.UUID) -> None:
    conn.execute(delete(courses).where(courses.c.id == course_id))


def list_courses(conn: Connection, *, statuses: Sequence[str], owner_id: uuid.UUID | None, q: str | None,
                 category: str | None, level: str | None, instructor_id: uuid.UUID | None, limit: int,
                 offset: int) -> tuple[list[CourseRecord], int]:
    conditions: list[ColumnElement[bool]] = [courses.c.status.in_(statuses)]
    if owner_id is not None:
        conditions.append(courses.c.instructor_id == owner_id)
    if instructor_id is not None:
        conditions.append(courses.c.instructor_id == instructor_id)
    if category is not None:
        conditions.append(courses.c.category == category)
    if level is not None:
        conditions.append(courses.c.level == level)
    if q:
        # Same expression as the GIN index, so the planner can use it; websearch syntax never raises on input.
        conditions.append(literal_column(COURSE_SEARCH_SQL).op("@@")(func.websearch_to_tsquery("simple", q)))
    where = and_(*conditions)
    total = int(conn.execute(select(func.count()).select_from(courses).where(where)).scalar_one())
    rows = conn.execute(
        select(courses, _MODULES_COUNT, _ENROLLED_COUNT).where(where)
        .order_by(courses.c.created_at.desc(), courses.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return [_course(r) for r in rows], total


def is_instructor(conn: Connection, user_id: uuid.UUID) -> bool:
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM user_roles WHERE user_id = :u AND role = "
                                  "'instructor')"), {"u": user_id}).scalar_one())


def active_enrollments(conn: Connection, course_id: uuid.UUID) -> int:
    return int(conn.execute(select(func.count()).select_from(enrollments).where(
        enrollments.c.course_id == course_id, enrollments.c.status == "active")).scalar_one())


def ever_enrolled(conn: Connection, course_id: uuid.UUID) -> bool:
    return bool(conn.execute(select(exists().where(enrollments.c.course_id == course_id))).scalar_one())


# --- prerequisites -----------------------------------------------------------------------------------------


def lock_prerequisite_graph(conn: Connection) -> None:
    conn.execute(select(func.pg_advisory_xact_lock(PREREQUISITE_GRAPH_LOCK)))


def prerequisite_edges_from(conn: Connection, start: uuid.UUID) -> dict[uuid.UUID, set[uuid.UUID]]:
    """The edges (course → its prerequisites) reachable from ``start``: all a cycle check needs."""
    rows = conn.execute(text(
        """
        WITH RECURSIVE reach(course_id, prerequisite_id) AS (
            SELECT course_id, prerequisite_id FROM course_prerequisites WHERE course_id = :start
            UNION
            SELECT p.course_id, p.prerequisite_id FROM course_prerequisites p
            JOIN reach r ON p.course_id = r.prerequisite_id
        )
        SELECT course_id, prerequisite_id FROM reach
        """), {"start": start}).all()
    edges: dict[uuid.UUID, set[uuid.UUID]] = {}
    for course_id, prerequisite_id in rows:
        edges.setdefault(course_id, set()).add(prerequisite_id)
    return edges


def add_prerequisite(conn: Connection, course_id: uuid.UUID, prerequisite_id: uuid.UUID) -> bool:
    row = conn.execute(pg_insert(course_prerequisites).values(course_id=course_id, prerequisite_id=prerequisite_id)
                       .on_conflict_do_nothing().returning(course_prerequisites.c.course_id)).first()
    return row is not None


def prerequisite_ids(conn: Connection, course_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the course's direct prerequisites, whatever their status, in the order they were linked."""
    return list(conn.execute(select(course_prerequisites.c.prerequisite_id)
                             .where(course_prerequisites.c.course_id == course_id)
                             .order_by(course_prerequisites.c.created_at,
                                       course_prerequisites.c.prerequisite_id)).scalars())


def remove_prerequisite(conn: Connection, course_id: uuid.UUID, prerequisite_id: uuid.UUID) -> None:
    conn.execute(delete(course_prerequisites).where(course_prerequisites.c.course_id == course_id,
                                                    course_prerequisites.c.prerequisite_id == prerequisite_id))


def list_prerequisites(conn: Connection, course_id: uuid.UUID, *, reader_id: uuid.UUID | None,
                       limit: int, offset: int) -> tuple[list[CourseRecord], int]:
    """Prerequisite courses the reader may see (published, or theirs; ``reader_id`` None = admin: all)."""
    conditions: list[ColumnElement[bool]] = [
        courses.c.id.in_(select(course_prerequisites.c.prerequisite_id)
                         .where(course_prerequisites.c.course_id == course_id)),
    ]
    if reader_id is not None:
        conditions.append(or_(courses.c.status == "published", courses.c.instructor_id == reader_id))
    where = and_(*conditions)
    total = int(conn.execute(select(func.count()).select_from(courses).where(where)).scalar_one())
    rows = conn.execute(select(courses, _MODULES_COUNT, _ENROLLED_COUNT).where(where)
                        .order_by(courses.c.title, courses.c.id).limit(limit).offset(offset)).all()
    return [_course(r) for r in rows], total


# --- modules -----------------------------------------------------------------------------------------------


def get_module(conn: Connection, module_id: uuid.UUID) -> ModuleRecord | None:
    row = conn.execute(select(modules).where(modules.c.id == module_id)).first()
    return _module(row) if row else None


def next_order_index(conn: Connection, course_id: uuid.UUID) -> int:
    current = conn.execute(select(func.max(modules.c.order_index)).where(modules.c.course_id == course_id)).scalar()
    return 0 if current is None else int(current) + 1


def insert_module(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(modules).values(**values))


def update_module(conn: Connection, module_id: uuid.UUID, values: Mapping[str, Any], now: datetime) -> None:
    conn.execute(update(modules).where(modules.c.id == module_id).values(**values, updated_at=now))


def delete_module(conn: Connection, module_id: uuid.UUID) -> None:
    conn.execute(delete(modules).where(modules.c.id == module_id))


def list_modules(conn: Connection, course_id: uuid.UUID, *, limit: int, offset: int
                 ) -> tuple[list[ModuleRecord], int]:
    where = modules.c.course_id == course_id
    total = int(conn.execute(select(func.count()).select_from(modules).where(where)).scalar_one())
    rows = conn.execute(select(modules).where(where)
                        .order_by(modules.c.order_index, modules.c.created_at, modules.c.id)
                        .limit(limit).offset(offset)).all()
    return [_module(r) for r in rows], total


def outline(conn: Connection, course_id: uuid.UUID) -> list[tuple[ModuleRecord, list[AssetRow]]]:
    """Every module of the course in order, each with its assets in order (what publishing looks at)."""
    module_rows = conn.execute(select(modules).where(modules.c.course_id == course_id)
                               .order_by(modules.c.order_index, modules.c.created_at, modules.c.id)).all()
    result: list[tuple[ModuleRecord, list[AssetRow]]] = [(_module(r), []) for r in module_rows]
    by_id: dict[uuid.UUID, list[AssetRow]] = {m.id: items for m, items in result}
    if by_id:
        asset_rows = conn.execute(
            select(assets.c.id, assets.c.module_id, assets.c.title, assets.c.asset_type, assets.c.status,
                   assets.c.source_url, assets.c.description)
            .where(assets.c.module_id.in_(list(by_id)))
            .order_by(assets.c.order_index, assets.c.created_at, assets.c.id)).all()
        for a in asset_rows:
            by_id[a.module_id].append(AssetRow(a.id, a.module_id, a.title, a.asset_type, a.status, a.source_url,
                                               a.description))
    return result
