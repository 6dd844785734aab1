"""Notification database: recipients, courses, preferences, notifications, sends, processed events.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, default_now: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.text("now()") if default_now else None)


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=True),
        _ts("updated_at", nullable=False, default_now=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_recipients"),
    )
    op.create_table(
        "courses",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("instructor_id", sa.Uuid(), nullable=False),
        _ts("updated_at", nullable=False, default_now=True),
        sa.PrimaryKeyConstraint("course_id", name="pk_courses"),
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sms", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("in_app", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("phone_number", sa.String(16), nullable=True),
        sa.Column("categories", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        _ts("updated_at", nullable=False, default_now=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_preferences"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(2048), nullable=True),
        sa.Column("category", sa.String(50), nullable=False),
        _ts("created_at", nullable=False, default_now=True),
        _ts("read_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("event_id", "user_id", name="uq_notifications_event_id_user_id"),
    )
    op.create_index("ix_notifications_user_id_created_at", "notifications", ["user_id", "created_at"])
    op.create_table(
        "sends",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("context", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("status", sa.String(10), server_default=sa.text("'queued'"), nullable=False),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at", nullable=False, default_now=True),
        _ts("updated_at", nullable=False, default_now=True),
        _ts("sent_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sends"),
        sa.UniqueConstraint("event_id", "user_id", "channel", name="uq_sends_event_id_user_id_channel"),
        sa.CheckConstraint("channel IN ('email', 'sms', 'in_app')", name="ck_sends_channel"),
        sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed', 'skipped', 'unknown')",
                           name="ck_sends_status"),
    )
    op.create_index("ix_sends_user_id", "sends", ["user_id"])
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        _ts("processed_at", nullable=False, default_now=True),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("sends")
    op.drop_table("notifications")
    op.drop_table("preferences")
    op.drop_table("courses")
    op.drop_table("recipients")
