"""Request and response bodies of the Courses and Modules APIs (they also shape the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from smartcourse_lms.learning.courses import CourseStatus, Level, ProcessingStatus

# Annotations only: the repositories import SQLAlchemy, which a handler's init must not pay for.
if TYPE_CHECKING:
    from smartcourse_lms.courses.repository import CourseRecord, ModuleRecord


TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 20_000
CATEGORY_MAX_LENGTH = 100
MAX_STUDENTS_LIMIT = 1_000_000  # far above any real course, far below the column's range
ORDER_INDEX_LIMIT = 100_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_LENGTH), AfterValidator(_not_blank)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]
Category = Annotated[str, Field(min_length=1, max_length=CATEGORY_MAX_LENGTH), AfterValidator(_not_blank)]
# strict: a JSON boolean is not a number (``false`` would be stored as 0).
MaxStudents = Annotated[int, Field(strict=True, ge=1, le=MAX_STUDENTS_LIMIT)]
OrderIndex = Annotated[int, Field(strict=True, ge=0, le=ORDER_INDEX_LIMIT)]


class CourseCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Title
    description: Description | None = None
    max_students: MaxStudents | None = None
    category: Category | None = None
    level: Level | None = None
    instructor_id: uuid.UUID | None = Field(default=None, description="admins only: the owning instructor")


class CourseUpdateRequest(BaseModel):
    """Partial update (PUT and PATCH alike). ``status`` and other unknown fields are rejected (422)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    max_students: MaxStudents | None = None
    category: Category | None = None
    level: Level | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class CourseOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str | None
    status: CourseStatus
    processing_status: ProcessingStatus
    instructor_id: uuid.UUID
    max_students: int | None
    category: str | None
    level: Level | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    modules_count: int
    enrolled_count: int = Field(description="active enrollments")

    @classmethod
    def of(cls, course: CourseRecord) -> CourseOut:
        return cls.model_validate(course.__dict__)


class CoursePageOut(BaseModel):
    items: list[CourseOut]
    total: int
    limit: int
    offset: int


class ModuleCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    course_id: uuid.UUID
    title: Title
    description: Description | None = None
    order_index: OrderIndex | None = Field(default=None, description="default: after the last module")


class ModuleUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    order_index: OrderIndex | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ModuleOut(BaseModel):
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    description: str | None
    order_index: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, module: ModuleRecord) -> ModuleOut:
        return cls.model_validate(module.__dict__)


class ModulePageOut(BaseModel):
    items: list[ModuleOut]
    total: int
    limit: int
    offset: int
