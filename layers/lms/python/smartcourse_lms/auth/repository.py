"""PostgreSQL queries for users and access (SQLAlchemy Core), rows mapped to domain dataclasses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from smartcourse_lms.auth.domain import (
    FailureCount,
    OneTimeToken,
    RefreshTokenState,
    Role,
    User,
    UserStatus,
    sort_roles,
)
from smartcourse_lms.tables import login_failures, refresh_tokens, user_roles, users

# --- users -------------------------------------------------------------------------------------------------


def _user(row: Row[Any] | Mapping[str, Any], roles: Iterable[str]) -> User:
    m = row._mapping if isinstance(row, Row) else row
    return User(
        id=m["id"],
        email=m["email"],
        full_name=m["full_name"],
        status=UserStatus(m["status"]),
        roles=tuple(sort_roles(roles)),
        email_verified_at=m["email_verified_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        password_hash=m["password_hash"],
    )


def roles_of(conn: Connection, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = conn.execute(select(user_roles.c.user_id, user_roles.c.role).where(user_roles.c.user_id.in_(user_ids)))
        for user_id, role in rows:
            found[user_id].append(role)
    return found


def get_user(conn: Connection, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    query = select(users).where(users.c.id == user_id)
    if for_update:
        # FOR NO KEY UPDATE: an id never changes, and rows that reference the user (a new refresh token, a role
        # granted by them) must not wait behind it — with FOR UPDATE, a refresh and a block of that user deadlocked.
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).first()
    return _user(row, roles_of(conn, [user_id])[user_id]) if row else None


def get_user_by_email(conn: Connection, email: str, *, for_update: bool = False) -> User | None:
    query = select(users).where(users.c.email == email)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _user(row, roles_of(conn, [row.id])[row.id]) if row else None


def insert_user(conn: Connection, *, user_id: uuid.UUID, email: str, password_hash: str, full_name: str | None,
                roles: Sequence[Role], now: datetime) -> bool:
    """Insert a user with roles; False when the email is taken (also under a concurrent insert of the same email)."""
    inserted = conn.execute(
        pg_insert(users)
        .values(id=user_id, email=email, password_hash=password_hash, full_name=full_name,
                status=UserStatus.ACTIVE.value, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[users.c.email])
        .returning(users.c.id)
    ).first()
    if inserted is None:
        return False
    if roles:
        conn.execute(insert(user_roles), [{"user_id": user_id, "role": r.value, "granted_at": now} for r in roles])
    return True


def update_user(conn: Connection, user_id: uuid.UUID, values: Mapping[str, Any], now: datetime) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(**values, updated_at=now))


def add_role(conn: Connection, user_id: uuid.UUID, role: Role, granted_by: uuid.UUID | None, now: datetime) -> bool:
    row = conn.execute(
        pg_insert(user_roles)
        .values(user_id=user_id, role=role.value, granted_by=granted_by, granted_at=now)
        .on_conflict_do_nothing()
        .returning(user_roles.c.role)
    ).first()
    return row is not None


def remove_role(conn: Connection, user_id: uuid.UUID, role: Role) -> bool:
    result = conn.execute(delete(user_roles).where(user_roles.c.user_id == user_id, user_roles.c.role == role.value))
    return bool(result.rowcount)


def list_users(conn: Connection, *, role: Role | None, status: UserStatus | None, q: str | None,
               limit: int, offset: int) -> tuple[list[User], int]:
    conditions: list[ColumnElement[bool]] = []
    if role is not None:
        conditions.append(exists().where(user_roles.c.user_id == users.c.id, user_roles.c.role == role.value))
    if status is not None:
        conditions.append(users.c.status == status.value)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(users.c.email.ilike(pattern, escape="\\"), users.c.full_name.ilike(pattern, escape="\\")))
    where = and_(*conditions) if conditions else None
    count_query = select(func.count()).select_from(users)
    page_query = select(users).order_by(users.c.created_at, users.c.id).limit(limit).offset(offset)
    if where is not None:
        count_query = count_query.where(where)
        page_query = page_query.where(where)
    total = int(conn.execute(count_query).scalar_one())
    rows = conn.execute(page_query).all()
    held = roles_of(conn, [r.id for r in rows])
    return [_user(r, held[r.id]) for r in rows], total


# --- refresh tokens ----------------------------------------------------------------------------------------


def _refresh_state(row: Row[Any]) -> RefreshTokenState:
    return RefreshTokenState(id=row.id, user_id=row.user_id, family_id=row.family_id, expires_at=row.expires_at,
                             replaced_by=row.replaced_by, revoked_at=row.revoked_at)


def insert_refresh_token(conn: Connection, *, token_id: uuid.UUID, user_id: uuid.UUID, family_id: uuid.UUID,
                         token_hash: str, now: datetime, expires_at: datetime) -> None:
    conn.execute(insert(refresh_tokens).values(id=token_id, user_id=user_id, family_id=family_id,
                                               token_hash=token_hash, issued_at=now, expires_at=expires_at))


def find_refresh_token(conn: Connection, token_hash: str, *, for_update: bool = False) -> RefreshTokenState | None:
    query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
    if for_update:
        # Two concurrent refreshes with one token: the second waits and then sees it rotated (reuse).
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _refresh_state(row) if row else None


def mark_rotated(conn: Connection, token_id: uuid.UUID, successor_id: uuid.UUID, now: datetime) -> None:
    conn.execute(update(refresh_tokens).where(refresh_tokens.c.id == token_id)
                 .values(replaced_by=successor_id, revoked_at=now, revoked_reason="rotated"))


def revoke_family(conn: Connection, family_id: uuid.UUID, now: datetime, reason: str) -> int:
    result = conn.execute(update(refresh_tokens)
                          .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now, revoked_reason=reason))
    return int(result.rowcount)


def revoke_token(conn: Connection, token_id: uuid.UUID, now: datetime, reason: str) -> None:
    conn.execute(update(refresh_tokens)
                 .where(refresh_tokens.c.id == token_id, refresh_tokens.c.revoked_at.is_(None))
                 .values(revoked_at=now, revoked_reason=reason))


def revoke_user_tokens(conn: Connection, user_id: uuid.UUID, now: datetime, reason: str) -> int:
    result = conn.execute(update(refresh_tokens)
                          .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now, revoked_reason=reason))
    return int(result.rowcount)


# --- one-time tokens (email verification, password reset) ------------------------------------------------


def _one_time(row: Row[Any]) -> OneTimeToken:
    return OneTimeToken(id=row.id, user_id=row.user_id, expires_at=row.expires_at, used_at=row.used_at)


def insert_one_time_token(conn: Connection, table: Table, *, token_id: uuid.UUID, user_id: uuid.UUID,
                          token_hash: str, now: datetime, expires_at: datetime) -> None:
    conn.execute(insert(table).values(id=token_id, user_id=user_id, token_hash=token_hash, created_at=now,
                                      expires_at=expires_at))


def find_one_time_token(conn: Connection, table: Table, *, token_hash: str | None = None,
                        token_id: uuid.UUID | None = None) -> OneTimeToken | None:
    query = select(table).with_for_update()
    query = query.where(table.c.token_hash == token_hash) if token_hash is not None else query.where(
        table.c.id == token_id)
    row = conn.execute(query).first()
    return _one_time(row) if row else None


def rekey_one_time_token(conn: Connection, table: Table, token_id: uuid.UUID, token_hash: str) -> None:
    conn.execute(update(table).where(table.c.id == token_id).values(token_hash=token_hash))


def use_one_time_tokens(conn: Connection, table: Table, user_id: uuid.UUID, now: datetime) -> None:
    """Spend every outstanding token of the user: using one makes its siblings useless too."""
    conn.execute(update(table).where(table.c.user_id == user_id, table.c.used_at.is_(None)).values(used_at=now))


# --- login failures ----------------------------------------------------------------------------------------


def count_failures(conn: Connection, *, email: str, source_ip: str | None,
                   since: datetime) -> tuple[FailureCount, FailureCount]:
    def counted(condition: Any) -> FailureCount:
        count, oldest = conn.execute(
            select(func.count(), func.min(login_failures.c.failed_at))
            .where(condition, login_failures.c.failed_at > since)
        ).one()
        return FailureCount(int(count), oldest)

    by_email = counted(login_failures.c.email == email)
    by_ip = counted(login_failures.c.source_ip == source_ip) if source_ip else FailureCount(0, None)
    return by_email, by_ip


def record_failure(conn: Connection, *, email: str, source_ip: str | None, now: datetime,
                   forget_before: datetime) -> None:
    conn.execute(insert(login_failures).values(email=email, source_ip=source_ip, failed_at=now))
    # Rows older than the window count for nothing: prune this key's so the table stays small.
    conn.execute(delete(login_failures).where(login_failures.c.email == email,
                                              login_failures.c.failed_at <= forget_before))


def clear_failures(conn: Connection, email: str) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.email == email))


def clear_failures_for_user(conn: Connection, user_id: uuid.UUID) -> None:
    conn.execute(delete(login_failures).where(
        login_failures.c.email == select(users.c.email).where(users.c.id == user_id).scalar_subquery()))
