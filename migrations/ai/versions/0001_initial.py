"""AI database: course and enrollment projections, indexing runs, assets, chunks (pgvector + tsvector),
per-course settings, unanswered questions, usage, outbox and processed events.

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

# Literal DDL (a migration is a record, not derived from today's tables); smartcourse_ai/tables.py builds the
# same schema, which tests/integration/ai/test_ai_schema.py checks with Alembic's autogenerate.
STATEMENTS = (
    """
CREATE TABLE assets (
    asset_id UUID NOT NULL,
    course_id UUID NOT NULL,
    module_id UUID NOT NULL,
    module_title VARCHAR(1000) NOT NULL,
    position INTEGER NOT NULL,
    title VARCHAR(1000) NOT NULL,
    asset_type VARCHAR(20) NOT NULL,
    description TEXT,
    source_url VARCHAR(2048),
    content_key VARCHAR(1024),
    status VARCHAR(16) NOT NULL,
    run_id UUID NOT NULL,
    done_run_id UUID,
    content_hash VARCHAR(64),
    embedding_model VARCHAR(200),
    chunks INTEGER DEFAULT '0' NOT NULL,
    words INTEGER DEFAULT '0' NOT NULL,
    last_error TEXT,
    indexed_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_assets PRIMARY KEY (asset_id),
    CONSTRAINT ck_assets_status CHECK (status IN ('pending', 'indexed', 'unchanged', 'failed'))
)
    """,
    """
CREATE INDEX ix_assets_course_id_position ON assets (course_id, position)
    """,
    """
CREATE TABLE chunks (
    id UUID NOT NULL,
    course_id UUID NOT NULL,
    asset_id UUID NOT NULL,
    module_id UUID NOT NULL,
    chunk_index INTEGER NOT NULL,
    heading_path TEXT NOT NULL,
    content TEXT NOT NULL,
    content_hash VARCHAR(64) NOT NULL,
    token_count INTEGER NOT NULL,
    embedding VECTOR(384) NOT NULL,
    embedding_model VARCHAR(200) NOT NULL,
    tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', heading_path || ' ' || content)) STORED,
    CONSTRAINT pk_chunks PRIMARY KEY (id),
    CONSTRAINT uq_chunks_asset_id_chunk_index UNIQUE (asset_id, chunk_index)
)
    """,
    """
CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)
    """,
    """
CREATE INDEX ix_chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)
    """,
    """
CREATE INDEX ix_chunks_course_id ON chunks (course_id)
    """,
    """
CREATE TABLE course_index (
    course_id UUID NOT NULL,
    status VARCHAR(16) NOT NULL,
    run_id UUID NOT NULL,
    force BOOLEAN DEFAULT false NOT NULL,
    assets_total INTEGER DEFAULT '0' NOT NULL,
    assets_done INTEGER DEFAULT '0' NOT NULL,
    chunks INTEGER DEFAULT '0' NOT NULL,
    embeddings INTEGER DEFAULT '0' NOT NULL,
    last_error TEXT,
    embedding_model VARCHAR(200),
    started_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    indexed_at TIMESTAMP WITH TIME ZONE,
    summary TEXT,
    key_topics JSONB DEFAULT '[]'::jsonb NOT NULL,
    estimated_minutes INTEGER,
    digest_model VARCHAR(200),
    generated_at TIMESTAMP WITH TIME ZONE,
    centroid VECTOR(384),
    CONSTRAINT pk_course_index PRIMARY KEY (course_id),
    CONSTRAINT ck_course_index_status CHECK (status IN ('not_indexed', 'processing', 'ready', 'failed')),
    CONSTRAINT ck_course_index_assets_done CHECK (assets_done >= 0 AND assets_done <= assets_total)
)
    """,
    """
CREATE TABLE course_settings (
    course_id UUID NOT NULL,
    chat BOOLEAN DEFAULT true NOT NULL,
    quiz BOOLEAN DEFAULT true NOT NULL,
    summary BOOLEAN DEFAULT true NOT NULL,
    updated_by UUID,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_course_settings PRIMARY KEY (course_id)
)
    """,
    """
CREATE TABLE courses (
    course_id UUID NOT NULL,
    instructor_id UUID NOT NULL,
    title VARCHAR(300) NOT NULL,
    description TEXT,
    status VARCHAR(16) NOT NULL,
    prerequisite_ids JSONB DEFAULT '[]'::jsonb NOT NULL,
    published_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_courses PRIMARY KEY (course_id),
    CONSTRAINT ck_courses_status CHECK (status IN ('published', 'archived'))
)
    """,
    """
CREATE TABLE enrollments (
    user_id UUID NOT NULL,
    course_id UUID NOT NULL,
    enrolled_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_enrollments PRIMARY KEY (user_id, course_id)
)
    """,
    """
CREATE INDEX ix_enrollments_course_id ON enrollments (course_id)
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
CREATE INDEX ix_outbox_status_next_attempt_at ON outbox (status, next_attempt_at)
    """,
    """
CREATE INDEX ix_outbox_pending_id ON outbox (id) WHERE status = 'pending'
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
CREATE TABLE unanswered_questions (
    id BIGSERIAL NOT NULL,
    course_id UUID NOT NULL,
    question TEXT NOT NULL,
    embedding VECTOR(384) NOT NULL,
    asked_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_unanswered_questions PRIMARY KEY (id)
)
    """,
    """
CREATE INDEX ix_unanswered_questions_course_id_asked_at ON unanswered_questions (course_id, asked_at)
    """,
    """
CREATE TABLE usage (
    id BIGSERIAL NOT NULL,
    user_id UUID NOT NULL,
    course_id UUID,
    feature VARCHAR(16) NOT NULL,
    provider VARCHAR(50) NOT NULL,
    model VARCHAR(200) NOT NULL,
    prompt_tokens INTEGER DEFAULT '0' NOT NULL,
    completion_tokens INTEGER DEFAULT '0' NOT NULL,
    latency_ms INTEGER DEFAULT '0' NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_usage PRIMARY KEY (id),
    CONSTRAINT ck_usage_feature CHECK (feature IN ('search', 'ask', 'quiz', 'summary', 'indexing'))
)
    """,
    """
CREATE INDEX ix_usage_created_at ON usage (created_at)
    """,
    """
CREATE INDEX ix_usage_user_id_created_at ON usage (user_id, created_at)
    """,
)

TABLES = ("usage", "unanswered_questions", "processed_events", "outbox", "enrollments", "courses",
          "course_settings", "course_index", "chunks", "assets")


def upgrade() -> None:
    # pgvector: Aurora PostgreSQL and the embedded PostgreSQL ship it; migrations run as the database owner.
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
