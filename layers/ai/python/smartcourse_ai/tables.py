"""The AI database schema as SQLAlchemy Core tables (migrations/ai builds the same).

Chunks carry a pgvector embedding (HNSW, cosine) and a generated ``tsvector`` (GIN) so that one query
fuses vector similarity with full-text rank. Vocabulary columns are checked against the domain enums.
"""

from __future__ import annotations

from pgvector.sqlalchemy import Vector
from smartcourse.db.conventions import new_metadata, one_of, timestamp
from smartcourse.db.messaging import outbox_table, processed_events_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

from smartcourse_ai.domain import (
    EMBEDDING_DIMENSIONS,
    AssetIndexStatus,
    CourseFeature,
    CourseStatus,
    Feature,
    IndexStatus,
)

metadata = new_metadata()

# The text-search configuration of chunks and queries (stemmed English; queries OR their terms).
TS_CONFIG = "english"
CHUNK_TSV_SQL = f"to_tsvector('{TS_CONFIG}', heading_path || ' ' || content)"

# Projection of course.published / course.archived (the LMS tables are never read).
courses = Table(
    "courses",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    Column("instructor_id", Uuid, nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text),
    Column("status", String(16), nullable=False),
    Column("prerequisite_ids", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    timestamp("published_at"),
    timestamp("updated_at", nullable=False, default_now=True),
    CheckConstraint(one_of("status", CourseStatus), name="status"),
)

# Projection of enrollment.created: who learns what (recommendations, popularity).
enrollments = Table(
    "enrollments",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    timestamp("enrolled_at", nullable=False, default_now=True),
    PrimaryKeyConstraint("user_id", "course_id"),
    Index(None, "course_id"),
)

# One indexing run per course at a time: its progress, its outcome and what it computed.
course_index = Table(
    "course_index",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("run_id", Uuid, nullable=False),
    Column("force", Boolean, nullable=False, server_default=text("false")),
    Column("assets_total", Integer, nullable=False, server_default="0"),
    Column("assets_done", Integer, nullable=False, server_default="0"),
    Column("chunks", Integer, nullable=False, server_default="0"),
    Column("embeddings", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("embedding_model", String(200)),
    timestamp("started_at", nullable=False, default_now=True),
    timestamp("indexed_at"),
    Column("summary", Text),
    Column("key_topics", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("estimated_minutes", Integer),
    Column("digest_model", String(200)),
    timestamp("generated_at"),
    Column("centroid", Vector(EMBEDDING_DIMENSIONS)),
    CheckConstraint(one_of("status", IndexStatus), name="status"),
    CheckConstraint("assets_done >= 0 AND assets_done <= assets_total", name="assets_done"),
)

assets = Table(
    "assets",
    metadata,
    Column("asset_id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("module_id", Uuid, nullable=False),
    Column("module_title", String(1000), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(1000), nullable=False),
    Column("asset_type", String(20), nullable=False),
    Column("description", Text),
    Column("source_url", String(2048)),
    Column("content_key", String(1024)),
    Column("status", String(16), nullable=False),
    Column("run_id", Uuid, nullable=False),
    Column("done_run_id", Uuid),
    Column("content_hash", String(64)),
    Column("embedding_model", String(200)),
    Column("chunks", Integer, nullable=False, server_default="0"),
    Column("words", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    timestamp("indexed_at"),
    CheckConstraint(one_of("status", AssetIndexStatus), name="status"),
    Index(None, "course_id", "position"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("asset_id", Uuid, nullable=False),
    Column("module_id", Uuid, nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("heading_path", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("token_count", Integer, nullable=False),
    Column("embedding", Vector(EMBEDDING_DIMENSIONS), nullable=False),
    Column("embedding_model", String(200), nullable=False),
    Column("tsv", TSVECTOR, Computed(CHUNK_TSV_SQL, persisted=True)),
    UniqueConstraint("asset_id", "chunk_index"),
    Index(None, "course_id"),
    Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),
    Index("ix_chunks_embedding_hnsw", "embedding", postgresql_using="hnsw",
          postgresql_ops={"embedding": "vector_cosine_ops"}),
)

course_settings = Table(
    "course_settings",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    *(Column(str(f), Boolean, nullable=False, server_default=text("true")) for f in CourseFeature),
    Column("updated_by", Uuid),
    timestamp("updated_at", nullable=False, default_now=True),
)

# Questions the content could not answer: no user id, by design (content gaps are anonymous).
unanswered_questions = Table(
    "unanswered_questions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("course_id", Uuid, nullable=False),
    Column("question", Text, nullable=False),
    Column("embedding", Vector(EMBEDDING_DIMENSIONS), nullable=False),
    timestamp("asked_at", nullable=False, default_now=True),
    Index(None, "course_id", "asked_at"),
)

# Every model call: the only place a user id sits next to AI activity (the question itself is never stored here).
usage = Table(
    "usage",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid),
    Column("feature", String(16), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("model", String(200), nullable=False),
    Column("prompt_tokens", Integer, nullable=False, server_default="0"),
    Column("completion_tokens", Integer, nullable=False, server_default="0"),
    Column("latency_ms", Integer, nullable=False, server_default="0"),
    Column("outcome", String(16), nullable=False),
    timestamp("created_at", nullable=False, default_now=True),
    CheckConstraint(one_of("feature", Feature), name="feature"),
    Index(None, "user_id", "created_at"),
    Index(None, "created_at"),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
