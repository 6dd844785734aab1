"""Courses, prerequisites and modules; assets, enrollments, progress and certificates for the next slices.

Revision ID: 0002_courses_modules
Revises: 0001_initial
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_courses_modules"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
COURSE_SEARCH = "to_tsvector('simple', title || ' ' || coalesce(description, ''))"


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}",
                                   ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), server_default="draft", nullable=False),
        sa.Column("processing_status", sa.String(16), server_default="not_started", nullable=False),
        sa.Column("instructor_id", sa.Uuid(), nullable=False),
        sa.Column("max_students", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_courses"),
        _fk("courses", "instructor_id", "users"),
        sa.CheckConstraint("status IN ('draft', 'published', 'archived')", name="ck_courses_status"),
        sa.CheckConstraint("processing_status IN ('not_started', 'processing', 'ready', 'failed')",
                           name="ck_courses_processing_status"),
        sa.CheckConstraint("max_students IS NULL OR max_students >= 1", name="ck_courses_max_students"),
        sa.CheckConstraint("level IS NULL OR level IN ('beginner', 'intermediate', 'advanced')",
                           name="ck_courses_level"),
    )
    op.create_index("ix_courses_status_created_at", "courses", ["status", sa.text("created_at DESC")])
    op.create_index("ix_courses_instructor_id", "courses", ["instructor_id"])
    op.create_index("ix_courses_category", "courses", ["category"])
    op.create_index("ix_courses_level", "courses", ["level"])
    op.create_index("ix_courses_search", "courses", [sa.text(COURSE_SEARCH)], postgresql_using="gin")

    op.create_table(
        "course_prerequisites",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("prerequisite_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("course_id", "prerequisite_id", name="pk_course_prerequisites"),
        _fk("course_prerequisites", "course_id", "courses", "CASCADE"),
        sa.ForeignKeyConstraint(["prerequisite_id"], ["courses.id"],
                                name="fk_course_prerequisites_prerequisite_id_courses", ondelete="CASCADE"),
        sa.CheckConstraint("course_id <> prerequisite_id", name="ck_course_prerequisites_not_self"),
    )
    op.create_index("ix_course_prerequisites_prerequisite_id", "course_prerequisites", ["prerequisite_id"])

    op.create_table(
        "modules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("order_index", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_modules"),
        _fk("modules", "course_id", "courses", "CASCADE"),
        sa.CheckConstraint("order_index >= 0", name="ck_modules_order_index"),
    )
    op.create_index("ix_modules_course_id_order_index", "modules", ["course_id", "order_index"])

    op.create_table(
        "assets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("module_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("asset_type", sa.String(16), nullable=False),
        sa.Column("source_url", sa.String(2048), nullable=True),
        sa.Column("order_index", sa.Integer(), server_default="0", nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), server_default="draft", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("content_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("validation_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        _fk("assets", "module_id", "modules", "CASCADE"),
        sa.CheckConstraint("asset_type IN ('video', 'pdf', 'article', 'link', 'quiz', 'document', 'other')",
                           name="ck_assets_asset_type"),
        sa.CheckConstraint("status IN ('draft', 'upload_pending', 'ready', 'rejected')", name="ck_assets_status"),
        sa.CheckConstraint("duration_seconds IS NULL OR duration_seconds >= 0", name="ck_assets_duration_seconds"),
    )
    op.create_index("ix_assets_module_id_order_index", "assets", ["module_id", "order_index"])

    op.create_table(
        "enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("source", sa.String(32), nullable=True),
        sa.Column("enrolled_at", TS, server_default=NOW, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("dropped_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enrollments"),
        _fk("enrollments", "user_id", "users"),
        _fk("enrollments", "course_id", "courses"),
        sa.CheckConstraint("status IN ('active', 'completed', 'dropped')", name="ck_enrollments_status"),
        sa.UniqueConstraint("user_id", "course_id", name="uq_enrollments_user_id_course_id"),
    )
    op.create_index("ix_enrollments_course_id_status", "enrollments", ["course_id", "status"])

    op.create_table(
        "asset_progress",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("progress_percent", sa.Numeric(5, 2), server_default="0", nullable=False),
        sa.Column("time_spent_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_asset_progress"),
        _fk("asset_progress", "enrollment_id", "enrollments", "CASCADE"),
        _fk("asset_progress", "asset_id", "assets", "CASCADE"),
        sa.CheckConstraint("progress_percent >= 0 AND progress_percent <= 100",
                           name="ck_asset_progress_progress_percent"),
        sa.CheckConstraint("time_spent_seconds >= 0", name="ck_asset_progress_time_spent_seconds"),
        sa.UniqueConstraint("enrollment_id", "asset_id", name="uq_asset_progress_enrollment_id_asset_id"),
    )

    op.create_table(
        "certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("serial_no", sa.String(64), nullable=False),
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("learner_name", sa.String(200), nullable=True),
        sa.Column("course_title", sa.String(255), nullable=False),
        sa.Column("issued_at", TS, server_default=NOW, nullable=False),
        sa.Column("document_key", sa.String(1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        _fk("certificates", "enrollment_id", "enrollments"),
        sa.UniqueConstraint("serial_no", name="uq_certificates_serial_no"),
        sa.UniqueConstraint("enrollment_id", name="uq_certificates_enrollment_id"),
    )
    op.create_index("ix_certificates_user_id", "certificates", ["user_id"])


def downgrade() -> None:
    for table in ("certificates", "asset_progress", "enrollments", "assets", "modules", "course_prerequisites",
                  "courses"):
        op.drop_table(table)
