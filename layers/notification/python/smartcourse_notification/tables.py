"""The notification database schema as SQLAlchemy Core tables (migrations/notification builds the same).

Vocabulary columns are checked against the domain enums (``Channel``, ``SendStatus``): their one source.
"""

from __future__ import annotations

from smartcourse.db.conventions import new_metadata, one_of, timestamp
from smartcourse.db.messaging import processed_events_table
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from smartcourse_notification.domain import Channel, SendStatus

metadata = new_metadata()



# Projection of user.registered: whom to write to (the LMS users table is never read).
recipients = Table(
    "recipients",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("full_name", String(200), nullable=True),
    timestamp("updated_at", nullable=False, default_now=True),
)

# Projection of course.published: titles for mails and who the instructor is.
courses = Table(
    "courses",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    Column("title", String(300), nullable=False),
    Column("instructor_id", Uuid, nullable=False),
    timestamp("updated_at", nullable=False, default_now=True),
)

preferences = Table(
    "preferences",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("email", Boolean, nullable=False, server_default=text("true")),
    Column("sms", Boolean, nullable=False, server_default=text("false")),
    Column("in_app", Boolean, nullable=False, server_default=text("true")),
    Column("phone_number", String(16), nullable=True),
    Column("categories", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    timestamp("updated_at", nullable=False, default_now=True),
)

# The in-app feed.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("template", String(100), nullable=False),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("link", String(2048), nullable=True),
    Column("category", String(50), nullable=False),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("read_at"),
    UniqueConstraint("event_id", "user_id"),
    Index(None, "user_id", "created_at"),
)

# Every send, one per (event, recipient, channel): the at-most-once ledger of the sender.
sends = Table(
    "sends",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("template", String(100), nullable=False),
    Column("address", String(320), nullable=True),
    # Template variables; token *references* only, never a clear token.
    Column("context", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", String(10), nullable=False, server_default=text(f"'{SendStatus.QUEUED.value}'")),
    Column("provider_message_id", String(200), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("updated_at", nullable=False, default_now=True),
    timestamp("sent_at"),
    UniqueConstraint("event_id", "user_id", "channel"),
    CheckConstraint(one_of("channel", Channel), name="channel"),
    CheckConstraint(one_of("status", SendStatus), name="status"),
    Index(None, "user_id"),
)

processed_events = processed_events_table(metadata)
