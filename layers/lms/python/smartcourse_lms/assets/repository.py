"""PostgreSQL queries for learning assets (SQLAlchemy Core), rows mapped to records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, func, insert, select, update

from smartcourse_lms.tables import assets, enrollments

# Enrollment statuses that give a student access to a course's content.
CONTENT_ACCESS_STATUSES = ("active", "completed")


@dataclass(frozen=True)
class AssetRecord:
    id: uuid.UUID
    module_id: uuid.UUID
    title: str
    description: str | None
    asset_type: str
    source_url: str | None
    order_index: int
    duration_seconds: int | None
    status: str
    size_bytes: int | None
    content_hash: str | None
    content_version: int
    validation_error: str | None
    created_at: datetime
    updated_at: datetime


def _asset(row: Row[Any]) -> AssetRecord:
    m = row._mapping
    return AssetRecord(**{k: m[k] for k in AssetRecord.__dataclass_fields__})


def get_asset(conn: Connection, asset_id: uuid.UUID, *, for_update: bool = False) -> AssetRecord | None:
    query = select(assets).where(assets.c.id == asset_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return _asset(row) if row else None


def next_order_index(conn: Connection, module_id: uuid.UUID) -> int:
    current = conn.execute(select(func.max(assets.c.order_index)).where(assets.c.module_id == module_id)).scalar()
    return 0 if current is None else int(current) + 1


def insert_asset(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(assets).values(**values))


def update_asset(conn: Connection, asset_id: uuid.UUID, values: Mapping[str, Any], now: datetime) -> None:
    conn.execute(update(assets).where(assets.c.id == asset_id).values(**values, updated_at=now))


def delete_asset(conn: Connection, asset_id: uuid.UUID) -> None:
    conn.execute(delete(assets).where(assets.c.id == asset_id))


def list_assets(conn: Connection, module_id: uuid.UUID, *, limit: int, offset: int
                ) -> tuple[list[AssetRecord], int]:
    where = assets.c.module_id == module_id
    total = int(conn.execute(select(func.count()).select_from(assets).where(where)).scalar_one())
    rows = conn.execute(select(assets).where(where)
                        .order_by(assets.c.order_index, assets.c.created_at, assets.c.id)
                        .limit(limit).offset(offset)).all()
    return [_asset(r) for r in rows], total


def has_content_access(conn: Connection, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """Whether the user holds an active or completed enrollment in the course."""
    return bool(conn.execute(select(exists().where(
        enrollments.c.user_id == user_id, enrollments.c.course_id == course_id,
        enrollments.c.status.in_(CONTENT_ACCESS_STATUSES)))).scalar_one())
