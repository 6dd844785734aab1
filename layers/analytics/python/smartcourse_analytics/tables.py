"""The analytics database schema as SQLAlchemy Core tables (migrations/analytics builds the same).

Three kinds of tables, all written by the consumer from events (never from the LMS tables):

* dimensions: ``users``, ``courses``, ``modules``, ``assets`` (names, owners, module order and size);
* facts, one row per event: ``progress_facts``, ``enrollment_facts`` (the enrollment topic's kinds);
* roll-ups, kept in the same transaction as the facts so that reads never scan facts: per learner per course
  (``enrollments``), per learner per asset (``asset_progress``) and per module (``module_progress``, the module
  funnel), per course per day
  (``course_daily``), and the days each learner was active (``activity_days`` per course,
  ``user_activity_days`` platform-wide).

Plus the service's own state: ``nudges``, ``reports``, the archive's ledger (``archived_events``), the outbox
and processed events.
"""

from __future__ import annotations

from smartcourse.db.conventions import new_metadata, one_of, timestamp
from smartcourse.db.messaging import outbox_table, processed_events_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from smartcourse_analytics.domain import CourseStatus, EnrollmentStatus, ReportFormat, ReportStatus, ReportType

metadata = new_metadata()

# --- dimensions ---------------------------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("full_name", String(200)),
    Column("roles", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    timestamp("registered_at"),
    timestamp("email_verified_at"),
)

courses = Table(
    "courses",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    Column("instructor_id", Uuid, nullable=False),
    Column("title", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    timestamp("created_at"),
    timestamp("published_at"),
    timestamp("archived_at"),
    CheckConstraint(one_of("status", CourseStatus), name="status"),
    Index(None, "instructor_id"),
)

# The course's modules as last published (order_index = position in course.published).
modules = Table(
    "modules",
    metadata,
    Column("module_id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("title", String(1000), nullable=False),
    Column("order_index", Integer, nullable=False),
    Column("asset_count", Integer, nullable=False),
    Index(None, "course_id", "order_index"),
)

assets = Table(
    "assets",
    metadata,
    Column("asset_id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("module_id", Uuid, nullable=False),
    Index(None, "course_id"),
)

# --- facts --------------------------------------------------------------------------------------------------

progress_facts = Table(
    "progress_facts",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("enrollment_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("module_id", Uuid, nullable=False),
    Column("asset_id", Uuid, nullable=False),
    Column("progress_percent", Numeric(5, 2), nullable=False),
    Column("time_spent_delta", Integer, nullable=False),
    Column("course_percent", Numeric(5, 2), nullable=False),
    timestamp("occurred_at", nullable=False),
)

# enrollment.created / .dropped / .completed and certificate.issued, one row per event.
enrollment_facts = Table(
    "enrollment_facts",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("enrollment_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    timestamp("occurred_at", nullable=False),
)

# --- roll-ups -----------------------------------------------------------------------------------------------

# Per learner per course. A progress event may arrive before its enrollment.created (another topic): the row
# is made from the progress event (enrolled_at = its time, enrollment_seen false) and the enrollment event
# completes it.
enrollments = Table(
    "enrollments",
    metadata,
    Column("enrollment_id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("enrollment_seen", Boolean, nullable=False, server_default=text("false")),
    timestamp("enrolled_at", nullable=False),
    timestamp("completed_at"),
    timestamp("dropped_at"),
    Column("percent_complete", Numeric(5, 2), nullable=False, server_default="0"),
    timestamp("percent_at"),  # occurred_at of the progress event percent_complete comes from
    Column("time_spent_seconds", BigInteger, nullable=False, server_default="0"),
    Column("progress_events", Integer, nullable=False, server_default="0"),
    timestamp("first_activity_at"),
    timestamp("last_activity_at"),
    Column("current_module_id", Uuid),  # the module of the latest progress event
    CheckConstraint(one_of("status", EnrollmentStatus), name="status"),
    Index(None, "course_id", "status"),
    Index(None, "course_id", "enrolled_at"),
    Index(None, "user_id"),
)

# Per learner per asset: the module funnel (started = any row of the module, completed = every asset at 100).
asset_progress = Table(
    "asset_progress",
    metadata,
    Column("enrollment_id", Uuid, nullable=False),
    Column("asset_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("module_id", Uuid, nullable=False),
    Column("progress_percent", Numeric(5, 2), nullable=False),
    Column("time_spent_seconds", BigInteger, nullable=False, server_default="0"),
    timestamp("first_progress_at", nullable=False),
    timestamp("last_progress_at", nullable=False),
    PrimaryKeyConstraint("enrollment_id", "asset_id"),
    Index(None, "course_id", "module_id"),
)

# Per learner per module, moved in the same statement as the learner's asset rows by what it changed in them: the
# module funnel (started = a row, completed = assets_completed >= the module's asset count) and how long the
# learner has been on a module (at risk: stuck on it).
module_progress = Table(
    "module_progress",
    metadata,
    Column("enrollment_id", Uuid, nullable=False),
    Column("module_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("assets_started", Integer, nullable=False),
    Column("assets_completed", Integer, nullable=False),
    timestamp("first_progress_at", nullable=False),
    timestamp("last_progress_at", nullable=False),
    PrimaryKeyConstraint("enrollment_id", "module_id"),
    Index(None, "course_id", "module_id"),
)

course_daily = Table(
    "course_daily",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("day", Date, nullable=False),
    Column("enrolled", Integer, nullable=False, server_default="0"),
    Column("completed", Integer, nullable=False, server_default="0"),
    Column("dropped", Integer, nullable=False, server_default="0"),
    Column("certificates", Integer, nullable=False, server_default="0"),
    Column("progress_events", Integer, nullable=False, server_default="0"),
    Column("time_spent_seconds", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("course_id", "day"),
    Index(None, "day"),
)

activity_days = Table(
    "activity_days",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("day", Date, nullable=False),
    PrimaryKeyConstraint("course_id", "user_id", "day"),
    Index(None, "course_id", "day"),
)

user_activity_days = Table(
    "user_activity_days",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("day", Date, nullable=False),
    PrimaryKeyConstraint("user_id", "day"),
    Index(None, "day"),
)

# --- the service's own state --------------------------------------------------------------------------------

# At most one nudge per learner per course per day; returned_at = the learner's first progress within 7 days.
nudges = Table(
    "nudges",
    metadata,
    Column("nudge_id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("sender_id", Uuid, nullable=False),
    Column("message", Text, nullable=False),
    timestamp("sent_at", nullable=False),
    Column("sent_on", Date, nullable=False),
    timestamp("returned_at"),
    Index(None, "course_id", "user_id", "sent_on", unique=True),
    Index(None, "user_id", "course_id"),
)

reports = Table(
    "reports",
    metadata,
    Column("report_id", Uuid, primary_key=True),
    Column("owner_user_id", Uuid, nullable=False),
    Column("report_type", String(16), nullable=False),
    Column("format", String(8), nullable=False),
    Column("course_id", Uuid),
    Column("period_from", Date, nullable=False),
    Column("period_to", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduled", Boolean, nullable=False, server_default=text("false")),
    Column("s3_key", String(1024)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    timestamp("created_at", nullable=False, default_now=True),
    timestamp("started_at"),
    timestamp("ready_at"),
    CheckConstraint(one_of("report_type", ReportType), name="report_type"),
    CheckConstraint(one_of("format", ReportFormat), name="format"),
    CheckConstraint(one_of("status", ReportStatus), name="status"),
    Index(None, "owner_user_id", "created_at"),
)

# The archive's ledger: each event id is written to exactly one archive object.
archived_events = Table(
    "archived_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("object_key", String(1024), nullable=False),
    timestamp("archived_at", nullable=False, default_now=True),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)

# The read models a rebuild from the archive empties and refills (the service's own reports and the archive
# ledger stay; nudges come back from their learner.nudge_requested events).
READ_MODELS: tuple[Table, ...] = (
    users, courses, modules, assets, progress_facts, enrollment_facts, enrollments, asset_progress,
    module_progress, course_daily, activity_days, user_activity_days, nudges,
)
