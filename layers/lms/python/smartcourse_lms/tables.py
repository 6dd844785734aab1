"""The LMS database schema as SQLAlchemy Core tables (the migrations create the same).

The CHECK constraints and server defaults of vocabulary columns are built from the domain enums
(``one_of(column, Enum)``): the domain is the one source of a status's values. The migrations keep literal
copies of their own, as migrations must; a test holds the migrated database's constraints to the enums.
"""

from __future__ import annotations

from smartcourse.db.conventions import new_metadata, one_of, timestamp
from smartcourse.db.messaging import outbox_table, processed_events_table
from smartcourse.principal import Role
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from smartcourse_lms.auth.domain import UserStatus
from smartcourse_lms.learning.courses import AssetStatus, AssetType, CourseStatus, Level, ProcessingStatus
from smartcourse_lms.learning.enrollments import EnrollmentStatus

metadata = new_metadata()

# The expression behind the GIN index that ``GET /courses?q=`` searches (migration 0002 builds the same).
COURSE_SEARCH_SQL = "to_tsvector('simple', title || ' ' || coalesce(description, ''))"


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Stored normalised (trimmed, lower-case): a plain unique index is then case-insensitive.
    Column("email", String(320), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("full_name", String(200)),
    Column("status", String(16), nullable=False, server_default=UserStatus.ACTIVE.value),
    timestamp("email_verified_at"),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("updated_at", nullable=False, default_now=True),
    CheckConstraint(one_of("status", UserStatus), name="status"),
    CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
    Index("uq_users_email", "email", unique=True),
    Index("ix_users_created_at_id", "created_at", "id"),
    Index("ix_users_status", "status"),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    timestamp("granted_at", nullable=False, default_now=True),
    Column("granted_by", Uuid, ForeignKey("users.id", ondelete="SET NULL")),
    PrimaryKeyConstraint("user_id", "role"),
    CheckConstraint(one_of("role", Role), name="role"),
    Index("ix_user_roles_role_user_id", "role", "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # Every token descending from one login shares the family; reuse of any revoked member revokes them all.
    Column("family_id", Uuid, nullable=False),
    Column("token_hash", String(64), nullable=False),
    timestamp("issued_at", nullable=False, default_now=True),
    timestamp("expires_at", nullable=False),
    Column("replaced_by", Uuid, ForeignKey("refresh_tokens.id", ondelete="SET NULL")),
    timestamp("revoked_at"),
    Column("revoked_reason", String(32)),
    Index("uq_refresh_tokens_token_hash", "token_hash", unique=True),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id_active", "user_id", postgresql_where=text("revoked_at IS NULL")),
)


def _one_time_token_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        # SHA-256 hex of the token: a database leak does not leak usable tokens.
        Column("token_hash", String(64), nullable=False),
        timestamp("created_at", nullable=False, default_now=True),
        timestamp("expires_at", nullable=False),
        timestamp("used_at"),
        Index(f"uq_{name}_token_hash", "token_hash", unique=True),
        Index(f"ix_{name}_user_id", "user_id"),
    )


email_verification_tokens = _one_time_token_table("email_verification_tokens")
password_reset_tokens = _one_time_token_table("password_reset_tokens")

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("source_ip", String(64)),
    timestamp("failed_at", nullable=False, default_now=True),
    Index("ix_login_failures_email_failed_at", "email", "failed_at"),
    Index("ix_login_failures_source_ip_failed_at", "source_ip", "failed_at"),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)

courses = Table(
    "courses",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("description", Text),
    Column("status", String(16), nullable=False, server_default=CourseStatus.DRAFT.value),
    Column("processing_status", String(16), nullable=False, server_default=ProcessingStatus.NOT_STARTED.value),
    Column("instructor_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("max_students", Integer),
    Column("category", String(100)),
    Column("level", String(16)),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("updated_at", nullable=False, default_now=True),
    timestamp("published_at"),
    CheckConstraint(one_of("status", CourseStatus), name="status"),
    CheckConstraint(one_of("processing_status", ProcessingStatus), name="processing_status"),
    CheckConstraint("max_students IS NULL OR max_students >= 1", name="max_students"),
    CheckConstraint("level IS NULL OR " + one_of("level", Level), name="level"),
    Index("ix_courses_status_created_at", "status", text("created_at DESC")),
    Index("ix_courses_instructor_id", "instructor_id"),
    Index("ix_courses_category", "category"),
    Index("ix_courses_level", "level"),
    Index("ix_courses_search", text(COURSE_SEARCH_SQL), postgresql_using="gin"),
)

course_prerequisites = Table(
    "course_prerequisites",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("prerequisite_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    timestamp("created_at", nullable=False, default_now=True),
    PrimaryKeyConstraint("course_id", "prerequisite_id"),
    CheckConstraint("course_id <> prerequisite_id", name="not_self"),
    Index("ix_course_prerequisites_prerequisite_id", "prerequisite_id"),
)

modules = Table(
    "modules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(255), nullable=False),
    Column("description", Text),
    Column("order_index", Integer, nullable=False, server_default="0"),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("updated_at", nullable=False, default_now=True),
    CheckConstraint("order_index >= 0", name="order_index"),
    Index("ix_modules_course_id_order_index", "course_id", "order_index"),
)

assets = Table(
    "assets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("module_id", Uuid, ForeignKey("modules.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(255), nullable=False),
    Column("description", Text),
    Column("asset_type", String(16), nullable=False),
    Column("source_url", String(2048)),
    Column("order_index", Integer, nullable=False, server_default="0"),
    Column("duration_seconds", Integer),
    Column("status", String(16), nullable=False, server_default=AssetStatus.DRAFT.value),
    Column("size_bytes", BigInteger),
    Column("content_hash", String(64)),
    Column("content_version", Integer, nullable=False, server_default="0"),
    Column("validation_error", Text),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("updated_at", nullable=False, default_now=True),
    CheckConstraint(one_of("asset_type", AssetType), name="asset_type"),
    CheckConstraint(one_of("status", AssetStatus), name="status"),
    CheckConstraint("duration_seconds IS NULL OR duration_seconds >= 0", name="duration_seconds"),
    Index("ix_assets_module_id_order_index", "module_id", "order_index"),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("course_id", Uuid, ForeignKey("courses.id"), nullable=False),
    Column("status", String(16), nullable=False, server_default=EnrollmentStatus.ACTIVE.value),
    Column("source", String(32)),
    timestamp("enrolled_at", nullable=False, default_now=True),
    timestamp("completed_at"),
    timestamp("dropped_at"),
    CheckConstraint(one_of("status", EnrollmentStatus), name="status"),
    UniqueConstraint("user_id", "course_id"),
    Index("ix_enrollments_course_id_status", "course_id", "status"),
)

asset_progress = Table(
    "asset_progress",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("enrollment_id", Uuid, ForeignKey("enrollments.id", ondelete="CASCADE"), nullable=False),
    Column("asset_id", Uuid, ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
    Column("progress_percent", Numeric(5, 2), nullable=False, server_default="0"),
    Column("time_spent_seconds", Integer, nullable=False, server_default="0"),
    timestamp("completed_at"),
    timestamp("updated_at", nullable=False, default_now=True),
    CheckConstraint("progress_percent >= 0 AND progress_percent <= 100", name="progress_percent"),
    CheckConstraint("time_spent_seconds >= 0", name="time_spent_seconds"),
    UniqueConstraint("enrollment_id", "asset_id"),
)

certificates = Table(
    "certificates",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("serial_no", String(64), nullable=False),
    Column("enrollment_id", Uuid, ForeignKey("enrollments.id"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("learner_name", String(200)),
    Column("course_title", String(255), nullable=False),
    timestamp("issued_at", nullable=False, default_now=True),
    Column("document_key", String(1024)),
    UniqueConstraint("serial_no"),
    UniqueConstraint("enrollment_id"),
    Index("ix_certificates_user_id", "user_id"),
)

__all__ = [
    "COURSE_SEARCH_SQL",
    "asset_progress",
    "assets",
    "certificates",
    "course_prerequisites",
    "courses",
    "email_verification_tokens",
    "enrollments",
    "login_failures",
    "metadata",
    "modules",
    "outbox",
    "password_reset_tokens",
    "processed_events",
    "refresh_tokens",
    "user_roles",
    "users",
]
