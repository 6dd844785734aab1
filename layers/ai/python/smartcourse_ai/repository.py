"""SQL of the AI database (SQLAlchemy Core); every function takes the caller's connection (one transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from smartcourse_ai.domain import AssetIndexStatus, CourseStatus, IndexStatus
from smartcourse_ai.tables import assets, chunks, course_index, course_settings, courses, enrollments


@dataclass(frozen=True)
class CourseRecord:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    description: str | None
    status: str
    prerequisite_ids: list[str]
    published_at: datetime | None

    @property
    def published(self) -> bool:
        return self.status == CourseStatus.PUBLISHED


@dataclass(frozen=True)
class AssetRecord:
    asset_id: uuid.UUID
    course_id: uuid.UUID
    module_id: uuid.UUID
    module_title: str
    position: int
    title: str
    asset_type: str
    description: str | None
    source_url: str | None
    content_key: str | None
    status: str
    run_id: uuid.UUID
    done_run_id: uuid.UUID | None
    content_hash: str | None
    embedding_model: str | None
    chunks: int
    words: int
    last_error: str | None


@dataclass(frozen=True)
class RunRecord:
    course_id: uuid.UUID
    status: str
    run_id: uuid.UUID
    force: bool
    assets_total: int
    assets_done: int
    chunks: int
    embeddings: int
    last_error: str | None
    embedding_model: str | None
    started_at: datetime
    indexed_at: datetime | None
    summary: str | None
    key_topics: list[str]
    estimated_minutes: int | None
    digest_model: str | None
    generated_at: datetime | None


def _record(cls: Any, row: Any) -> Any:
    return None if row is None else cls(**{k: row._mapping[k] for k in cls.__dataclass_fields__})


# --- courses and enrollments ---------------------------------------------------------------------------------


def upsert_course(conn: Connection, *, course_id: uuid.UUID, instructor_id: uuid.UUID, title: str,
                  description: str | None, prerequisite_ids: Sequence[uuid.UUID], published_at: datetime) -> None:
    values = {"instructor_id": instructor_id, "title": title, "description": description,
              "status": CourseStatus.PUBLISHED.value, "prerequisite_ids": [str(p) for p in prerequisite_ids],
              "published_at": published_at, "updated_at": func.now()}
    conn.execute(insert(courses).values(course_id=course_id, **values)
                 .on_conflict_do_update(index_elements=[courses.c.course_id], set_=values))


def get_course(conn: Connection, course_id: uuid.UUID) -> CourseRecord | None:
    row = conn.execute(select(courses).where(courses.c.course_id == course_id)).first()
    return _record(CourseRecord, row)


def lock_course(conn: Connection, course_id: uuid.UUID) -> CourseRecord | None:
    row = conn.execute(select(courses).where(courses.c.course_id == course_id).with_for_update()).first()
    return _record(CourseRecord, row)


def published_courses(conn: Connection) -> list[CourseRecord]:
    rows = conn.execute(select(courses).where(courses.c.status == CourseStatus.PUBLISHED.value)
                        .order_by(courses.c.published_at.desc(), courses.c.course_id)).all()
    return [_record(CourseRecord, r) for r in rows]


def lock_published_courses(conn: Connection) -> list[uuid.UUID]:
    """Lock every published course row, in one order (course id), as a job's course lock would be taken."""
    rows = conn.execute(select(courses.c.course_id).where(courses.c.status == CourseStatus.PUBLISHED.value)
                        .order_by(courses.c.course_id).with_for_update()).all()
    return [r.course_id for r in rows]


def readable_course_ids(conn: Connection, wanted: Sequence[uuid.UUID] | None) -> list[uuid.UUID]:
    """Published courses (every signed-in caller may read them), limited to ``wanted`` when given."""
    query = select(courses.c.course_id).where(courses.c.status == CourseStatus.PUBLISHED.value)
    if wanted is not None:
        query = query.where(courses.c.course_id.in_(list(wanted)))
    return [r[0] for r in conn.execute(query)]


def archive_course(conn: Connection, course_id: uuid.UUID) -> None:
    conn.execute(update(courses).where(courses.c.course_id == course_id)
                 .values(status=CourseStatus.ARCHIVED.value, updated_at=func.now()))
    conn.execute(delete(chunks).where(chunks.c.course_id == course_id))
    conn.execute(update(assets).where(assets.c.course_id == course_id)
                 .values(content_hash=None, chunks=0, status=AssetIndexStatus.PENDING.value))
    conn.execute(update(course_index).where(course_index.c.course_id == course_id)
                 .values(status=IndexStatus.NOT_INDEXED.value, chunks=0, embeddings=0, centroid=None))


def add_enrollment(conn: Connection, user_id: uuid.UUID, course_id: uuid.UUID, enrolled_at: datetime) -> None:
    conn.execute(insert(enrollments).values(user_id=user_id, course_id=course_id, enrolled_at=enrolled_at)
                 .on_conflict_do_nothing())


def enrolled_course_ids(conn: Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute(select(enrollments.c.course_id).where(enrollments.c.user_id == user_id))]


def enrollment_counts(conn: Connection) -> dict[uuid.UUID, int]:
    rows = conn.execute(select(enrollments.c.course_id, func.count()).group_by(enrollments.c.course_id))
    return {r[0]: int(r[1]) for r in rows}


# --- runs and assets -----------------------------------------------------------------------------------------


def start_run(conn: Connection, course_id: uuid.UUID, run_id: uuid.UUID, *, force: bool, total: int,
              embedding_model: str) -> None:
    values = {"status": IndexStatus.PROCESSING.value, "run_id": run_id, "force": force, "assets_total": total,
              "assets_done": 0, "last_error": None, "started_at": func.now(), "embedding_model": embedding_model}
    conn.execute(insert(course_index).values(course_id=course_id, **values)
                 .on_conflict_do_update(index_elements=[course_index.c.course_id], set_=values))


def get_run(conn: Connection, course_id: uuid.UUID, *, lock: bool = False) -> RunRecord | None:
    query = select(course_index).where(course_index.c.course_id == course_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _record(RunRecord, row)


def plan_assets(conn: Connection, course_id: uuid.UUID, run_id: uuid.UUID,
                planned: Sequence[Mapping[str, Any]]) -> None:
    """Upsert the course's assets for this run (keeping their hashes) and forget the ones it no longer has."""
    keep = [a["asset_id"] for a in planned]
    gone = and_(assets.c.course_id == course_id, assets.c.asset_id.not_in(keep)) if keep else (
        assets.c.course_id == course_id)
    conn.execute(delete(chunks).where(chunks.c.asset_id.in_(select(assets.c.asset_id).where(gone))))
    conn.execute(delete(assets).where(gone))
    for asset in planned:
        values = {**asset, "course_id": course_id, "run_id": run_id, "status": AssetIndexStatus.PENDING.value,
                  "last_error": None}
        conn.execute(insert(assets).values(**values).on_conflict_do_update(
            index_elements=[assets.c.asset_id], set_={k: v for k, v in values.items() if k != "asset_id"}))


def get_asset(conn: Connection, asset_id: uuid.UUID, *, lock: bool = False) -> AssetRecord | None:
    query = select(assets).where(assets.c.asset_id == asset_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _record(AssetRecord, row)


def course_assets(conn: Connection, course_id: uuid.UUID) -> list[AssetRecord]:
    rows = conn.execute(select(assets).where(assets.c.course_id == course_id).order_by(assets.c.position))
    return [_record(AssetRecord, r) for r in rows]


def replace_chunks(conn: Connection, asset_id: uuid.UUID, rows: Iterable[Mapping[str, Any]]) -> None:
    conn.execute(delete(chunks).where(chunks.c.asset_id == asset_id))
    batch = list(rows)
    if batch:
        conn.execute(insert(chunks), batch)


def finish_asset(conn: Connection, asset_id: uuid.UUID, run_id: uuid.UUID, **values: Any) -> bool:
    """Mark the asset done for ``run_id``; False when it already was (a redelivered job counts once)."""
    result = conn.execute(
        update(assets)
        .where(assets.c.asset_id == asset_id, assets.c.run_id == run_id,
               assets.c.done_run_id.is_distinct_from(run_id))
        .values(done_run_id=run_id, indexed_at=func.now(), **values)
        .returning(assets.c.asset_id))
    return result.first() is not None


def count_done(conn: Connection, course_id: uuid.UUID, run_id: uuid.UUID) -> tuple[int, int] | None:
    """Add one finished asset to the run; its (done, total), or None when the run is not current."""
    row = conn.execute(
        update(course_index)
        .where(course_index.c.course_id == course_id, course_index.c.run_id == run_id,
               course_index.c.assets_done < course_index.c.assets_total)
        .values(assets_done=course_index.c.assets_done + 1)
        .returning(course_index.c.assets_done, course_index.c.assets_total)).first()
    return None if row is None else (int(row[0]), int(row[1]))


def finish_run(conn: Connection, course_id: uuid.UUID, run_id: uuid.UUID, **values: Any) -> None:
    conn.execute(update(course_index)
                 .where(course_index.c.course_id == course_id, course_index.c.run_id == run_id)
                 .values(**values))


def course_chunks(conn: Connection, course_id: uuid.UUID, *, limit: int | None = None,
                  with_embeddings: bool = True) -> list[Any]:
    """The course's first ``limit`` chunks in course order (module, asset, chunk), with their embeddings."""
    columns = [chunks.c.id, chunks.c.asset_id, chunks.c.heading_path, chunks.c.content]
    query = (select(*columns, *([chunks.c.embedding] if with_embeddings else []))
             .join(assets, assets.c.asset_id == chunks.c.asset_id)
             .where(chunks.c.course_id == course_id)
             .order_by(assets.c.position, chunks.c.chunk_index))
    return list(conn.execute(query if limit is None else query.limit(limit)))


def courses_with_feature_off(conn: Connection, feature: str) -> set[uuid.UUID]:
    """Courses whose staff switched ``feature`` (a ``CourseFeature`` column) off."""
    column = course_settings.c[feature]
    return {r[0] for r in conn.execute(select(course_settings.c.course_id).where(column.is_(False)))}


def chunk_totals(conn: Connection, course_id: uuid.UUID) -> tuple[int, int]:
    row = conn.execute(select(func.count(), func.count(chunks.c.embedding))
                       .where(chunks.c.course_id == course_id)).one()
    return int(row[0]), int(row[1])


# --- settings -----------------------------------------------------------------------------------------------


def get_settings_row(conn: Connection, course_id: uuid.UUID) -> dict[str, Any] | None:
    row = conn.execute(select(course_settings).where(course_settings.c.course_id == course_id)).first()
    return None if row is None else dict(row._mapping)


def put_settings_row(conn: Connection, course_id: uuid.UUID, values: Mapping[str, bool],
                     updated_by: uuid.UUID) -> None:
    data = {**values, "updated_by": updated_by, "updated_at": func.now()}
    conn.execute(insert(course_settings).values(course_id=course_id, **data)
                 .on_conflict_do_update(index_elements=[course_settings.c.course_id], set_=data))
