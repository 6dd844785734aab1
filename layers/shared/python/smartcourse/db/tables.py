"""The LMS database schema as SQLAlchemy Core tables (the migrations create the same)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ROLES = ("student", "instructor", "admin")
USER_STATUSES = ("active", "blocked")
OUTBOX_STATUSES = ("pending", "published", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = True, default_now: bool = False) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable,
                  server_default=func.now() if default_now else None)


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Stored normalised (trimmed, lower-case): a plain unique index is then case-insensitive.
    Column("email", String(320), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("full_name", String(200)),
    Column("status", String(16), nullable=False, server_default="active"),
    _ts("email_verified_at"),
    _ts("created_at", nullable=False, default_now=True),
    _ts("updated_at", nullable=False, default_now=True),
    CheckConstraint(_in("status", USER_STATUSES), name="status"),
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
    _ts("granted_at", nullable=False, default_now=True),
    Column("granted_by", Uuid, ForeignKey("users.id", ondelete="SET NULL")),
    PrimaryKeyConstraint("user_id", "role"),
    CheckConstraint(_in("role", ROLES), name="role"),
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
    _ts("issued_at", nullable=False, default_now=True),
    _ts("expires_at", nullable=False),
    Column("replaced_by", Uuid, ForeignKey("refresh_tokens.id", ondelete="SET NULL")),
    _ts("revoked_at"),
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
        _ts("created_at", nullable=False, default_now=True),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
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
    _ts("failed_at", nullable=False, default_now=True),
    Index("ix_login_failures_email_failed_at", "email", "failed_at"),
    Index("ix_login_failures_source_ip_failed_at", "source_ip", "failed_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("aggregate_type", String(50), nullable=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("event_version", Integer, nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    _ts("next_attempt_at", nullable=False, default_now=True),
    Column("last_error", Text),
    _ts("created_at", nullable=False, default_now=True),
    _ts("published_at"),
    CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    Index("uq_outbox_event_id", "event_id", unique=True),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_aggregate_id_id", "aggregate_id", "id"),
)

__all__ = [
    "OUTBOX_STATUSES",
    "ROLES",
    "USER_STATUSES",
    "email_verification_tokens",
    "login_failures",
    "metadata",
    "outbox",
    "password_reset_tokens",
    "refresh_tokens",
    "user_roles",
    "users",
]
