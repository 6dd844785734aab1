"""Analytics database: dimensions (users, courses, modules, assets), facts (progress, enrollment), roll-ups
(enrollments, asset progress, course per day, activity days), nudges, reports, the archive ledger, outbox and
processed events.

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Literal DDL (a migration is a record, not derived from today's tables); smartcourse_analytics/tables.py builds
# the same schema, which tests/integration/analytics/test_analytics_schema.py checks with Alembic's autogenerate.
STATEMENTS = (
    """
CREATE TABLE activity_days (
    course_id UUID NOT NULL,
    user_id UUID NOT NULL,
    day DATE NOT NULL,
    CONSTRAINT pk_activity_days PRIMARY KEY (course_id, user_id, day)
)
    """,
    """
CREATE INDEX ix_activity_days_course_id_day ON activity_days (course_id, day)
    """,
    """
CREATE TABLE archived_events (
    event_id UUID NOT NULL,
    object_key VARCHAR(1024) NOT NULL,
    archived_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_archived_events PRIMARY KEY (event_id)
)
    """,
    """
CREATE TABLE asset_progress (
    enrollment_id UUID NOT NULL,
    asset_id UUID NOT NULL,
    user_id UUID NOT NULL,
    course_id UUID NOT NULL,
    module_id UUID NOT NULL,
    progress_percent NUMERIC(5, 2) NOT NULL,
    time_spent_seconds BIGINT DEFAULT '0' NOT NULL,
    first_progress_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_progress_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_asset_progress PRIMARY KEY (enrollment_id, asset_id)
)
    """,
    """
CREATE INDEX ix_asset_progress_course_id_module_id ON asset_progress (course_id, module_id)
    """,
    """
CREATE TABLE assets (
    asset_id UUID NOT NULL,
    course_id UUID NOT NULL,
    module_id UUID NOT NULL,
    CONSTRAINT pk_assets PRIMARY KEY (asset_id)
)
    """,
    """
CREATE INDEX ix_assets_course_id ON assets (course_id)
    """,
    """
CREATE TABLE course_daily (
    course_id UUID NOT NULL,
    day DATE NOT NULL,
    enrolled INTEGER DEFAULT '0' NOT NULL,
    completed INTEGER DEFAULT '0' NOT NULL,
    dropped INTEGER DEFAULT '0' NOT NULL,
    certificates INTEGER DEFAULT '0' NOT NULL,
    progress_events INTEGER DEFAULT '0' NOT NULL,
    time_spent_seconds BIGINT DEFAULT '0' NOT NULL,
    CONSTRAINT pk_course_daily PRIMARY KEY (course_id, day)
)
    """,
    """
CREATE INDEX ix_course_daily_day ON course_daily (day)
    """,
    """
CREATE TABLE courses (
    course_id UUID NOT NULL,
    instructor_id UUID NOT NULL,
    title VARCHAR(300) NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE,
    published_at TIMESTAMP WITH TIME ZONE,
    archived_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_courses PRIMARY KEY (course_id),
    CONSTRAINT ck_courses_status CHECK (status IN ('draft', 'published', 'archived'))
)
    """,
    """
CREATE INDEX ix_courses_instructor_id ON courses (instructor_id)
    """,
    """
CREATE TABLE enrollment_facts (
    event_id UUID NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    enrollment_id UUID NOT NULL,
    user_id UUID NOT NULL,
    course_id UUID NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_enrollment_facts PRIMARY KEY (event_id)
)
    """,
    """
CREATE TABLE enrollments (
    enrollment_id UUID NOT NULL,
    user_id UUID NOT NULL,
    course_id UUID NOT NULL,
    status VARCHAR(16) NOT NULL,
    enrollment_seen BOOLEAN DEFAULT false NOT NULL,
    enrolled_at TIMESTAMP WITH TIME ZONE NOT NULL,
    completed_at TIMESTAMP WITH TIME ZONE,
    dropped_at TIMESTAMP WITH TIME ZONE,
    percent_complete NUMERIC(5, 2) DEFAULT '0' NOT NULL,
    percent_at TIMESTAMP WITH TIME ZONE,
    time_spent_seconds BIGINT DEFAULT '0' NOT NULL,
    progress_events INTEGER DEFAULT '0' NOT NULL,
    first_activity_at TIMESTAMP WITH TIME ZONE,
    last_activity_at TIMESTAMP WITH TIME ZONE,
    current_module_id UUID,
    CONSTRAINT pk_enrollments PRIMARY KEY (enrollment_id),
    CONSTRAINT ck_enrollments_status CHECK (status IN ('active', 'completed', 'dropped'))
)
    """,
    """
CREATE INDEX ix_enrollments_course_id_enrolled_at ON enrollments (course_id, enrolled_at)
    """,
    """
CREATE INDEX ix_enrollments_course_id_status ON enrollments (course_id, status)
    """,
    """
CREATE INDEX ix_enrollments_user_id ON enrollments (user_id)
    """,
    """
CREATE TABLE modules (
    module_id UUID NOT NULL,
    course_id UUID NOT NULL,
    title VARCHAR(1000) NOT NULL,
    order_index INTEGER NOT NULL,
    asset_count INTEGER NOT NULL,
    CONSTRAINT pk_modules PRIMARY KEY (module_id)
)
    """,
    """
CREATE INDEX ix_modules_course_id_order_index ON modules (course_id, order_index)
    """,
    """
CREATE TABLE nudges (
    nudge_id UUID NOT NULL,
    course_id UUID NOT NULL,
    user_id UUID NOT NULL,
    sender_id UUID NOT NULL,
    message TEXT NOT NULL,
    sent_at TIMESTAMP WITH TIME ZONE NOT NULL,
    sent_on DATE NOT NULL,
    returned_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_nudges PRIMARY KEY (nudge_id)
)
    """,
    """
CREATE UNIQUE INDEX ix_nudges_course_id_user_id_sent_on ON nudges (course_id, user_id, sent_on)
    """,
    """
CREATE INDEX ix_nudges_user_id_course_id ON nudges (user_id, course_id)
    """,
    """
CREATE TABLE outbox (
    id BIGSERIAL NOT NULL,
    event_id UUID NOT NULL,
    topic VARCHAR(200) NOT NULL,
    key VARCHAR(200) NOT NULL,
    aggregate_type VARCHAR(50) NOT NULL,
    aggregate_id UUID NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    event_version INTEGER NOT NULL,
    envelope JSONB NOT NULL,
    status VARCHAR(16) DEFAULT 'pending' NOT NULL,
    attempts INTEGER DEFAULT '0' NOT NULL,
    next_attempt_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    published_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_outbox PRIMARY KEY (id),
    CONSTRAINT ck_outbox_status CHECK (status IN ('pending', 'published', 'failed')),
    CONSTRAINT ck_outbox_attempts CHECK (attempts >= 0)
)
    """,
    """
CREATE INDEX ix_outbox_aggregate_id_id ON outbox (aggregate_id, id)
    """,
    """
CREATE INDEX ix_outbox_pending_id ON outbox (id) WHERE status = 'pending'
    """,
    """
CREATE INDEX ix_outbox_status_next_attempt_at ON outbox (status, next_attempt_at)
    """,
    """
CREATE UNIQUE INDEX uq_outbox_event_id ON outbox (event_id)
    """,
    """
CREATE TABLE processed_events (
    consumer VARCHAR(100) NOT NULL,
    event_id UUID NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    processed_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_processed_events PRIMARY KEY (consumer, event_id)
)
    """,
    """
CREATE TABLE progress_facts (
    event_id UUID NOT NULL,
    enrollment_id UUID NOT NULL,
    user_id UUID NOT NULL,
    course_id UUID NOT NULL,
    module_id UUID NOT NULL,
    asset_id UUID NOT NULL,
    progress_percent NUMERIC(5, 2) NOT NULL,
    time_spent_delta INTEGER NOT NULL,
    course_percent NUMERIC(5, 2) NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_progress_facts PRIMARY KEY (event_id)
)
    """,
    """
CREATE TABLE reports (
    report_id UUID NOT NULL,
    owner_user_id UUID NOT NULL,
    report_type VARCHAR(16) NOT NULL,
    format VARCHAR(8) NOT NULL,
    course_id UUID,
    period_from DATE NOT NULL,
    period_to DATE NOT NULL,
    status VARCHAR(16) NOT NULL,
    scheduled BOOLEAN DEFAULT false NOT NULL,
    s3_key VARCHAR(1024),
    error TEXT,
    attempts INTEGER DEFAULT '0' NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE,
    ready_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_reports PRIMARY KEY (report_id),
    CONSTRAINT ck_reports_report_type CHECK (report_type IN ('course', 'instructor', 'platform')),
    CONSTRAINT ck_reports_format CHECK (format IN ('html', 'csv')),
    CONSTRAINT ck_reports_status CHECK (status IN ('queued', 'building', 'ready', 'failed'))
)
    """,
    """
CREATE INDEX ix_reports_owner_user_id_created_at ON reports (owner_user_id, created_at)
    """,
    """
CREATE TABLE user_activity_days (
    user_id UUID NOT NULL,
    day DATE NOT NULL,
    CONSTRAINT pk_user_activity_days PRIMARY KEY (user_id, day)
)
    """,
    """
CREATE INDEX ix_user_activity_days_day ON user_activity_days (day)
    """,
    """
CREATE TABLE users (
    user_id UUID NOT NULL,
    full_name VARCHAR(200),
    roles JSONB DEFAULT '[]'::jsonb NOT NULL,
    registered_at TIMESTAMP WITH TIME ZONE,
    email_verified_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_users PRIMARY KEY (user_id)
)
    """,
)

TABLES = ("users", "user_activity_days", "reports", "progress_facts", "processed_events", "outbox", "nudges",
          "modules", "enrollments", "enrollment_facts", "courses", "course_daily", "assets",
          "asset_progress", "archived_events", "activity_days")


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
