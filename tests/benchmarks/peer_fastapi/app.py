"""The cold-start peer: ``GET /api/v1/courses`` as the original system served it, FastAPI + Mangum + SQLAlchemy ORM.

The same route as ``lms-courses-list`` (published courses, newest first, ``limit``/``offset``, the total, each
course with its module count and active enrollments) over the same ``courses``/``modules``/``enrollments`` tables,
written the usual way for that stack: ORM models, an engine and session factory at import, a pydantic response
model, one FastAPI app behind a Mangum handler. ``tests.benchmarks.init_time`` imports it in a runner worker like
any function (``app.handler``) and compares init durations.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from mangum import Mangum
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, Uuid, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, column_property, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Module(Base):
    __tablename__ = "modules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id"))
    title: Mapped[str] = mapped_column(String(255))


class Enrollment(Base):
    __tablename__ = "enrollments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16))


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    processing_status: Mapped[str] = mapped_column(String(16))
    instructor_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    max_students: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    modules_count: Mapped[int] = column_property(
        select(func.count(Module.id)).where(Module.course_id == id).correlate_except(Module).scalar_subquery())
    enrolled_count: Mapped[int] = column_property(
        select(func.count(Enrollment.id)).where(Enrollment.course_id == id, Enrollment.status == "active")
        .correlate_except(Enrollment).scalar_subquery())


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    modules_count: int
    enrolled_count: int


class CoursePageOut(BaseModel):
    items: list[CourseOut]
    total: int
    limit: int
    offset: int


def _url() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://localhost/smartcourse_lms")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


engine = create_engine(_url(), pool_size=1, max_overflow=0, pool_pre_ping=True)
SessionLocal = sessionmaker(engine, expire_on_commit=False)
app = FastAPI(title="SmartCourse LMS (FastAPI peer)")


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


@app.get("/api/v1/courses", response_model=CoursePageOut)
def list_courses(session: Annotated[Session, Depends(get_session)],
                 limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 offset: Annotated[int, Query(ge=0, le=10_000)] = 0) -> CoursePageOut:
    published = Course.status == "published"
    total = session.scalar(select(func.count()).select_from(Course).where(published)) or 0
    rows = session.scalars(select(Course).where(published).order_by(Course.created_at.desc(), Course.id)
                           .limit(limit).offset(offset)).all()
    return CoursePageOut(items=[CourseOut.model_validate(c) for c in rows], total=total, limit=limit, offset=offset)


handler = Mangum(app, lifespan="off")
