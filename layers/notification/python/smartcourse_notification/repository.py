"""Reads and writes of the notification database (SQLAlchemy Core). Every function takes the connection."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert

from smartcourse_notification.domain import SendStatus
from smartcourse_notification.rules import Preferences, Recipient
from smartcourse_notification.tables import courses, notifications, preferences, recipients, sends


@dataclass(frozen=True)
class CourseRecord:
    course_id: uuid.UUID
    title: str
    instructor_id: uuid.UUID


@dataclass(frozen=True)
class NotificationRecord:
    id: uuid.UUID
    template: str
    title: str
    body: str
    link: str | None
    category: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class SendRecord:
    id: uuid.UUID
    event_id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    template: str
    address: str | None
    context: dict[str, Any]
    status: str
    attempts: int


# --- projections ----------------------------------------------------------------------------------------


def upsert_recipient(conn: Connection, user_id: uuid.UUID, email: str, full_name: str | None = None, *,
                     keep_name: bool = False) -> None:
    stmt = insert(recipients).values(user_id=user_id, email=email, full_name=full_name)
    changes: dict[str, Any] = {"email": stmt.excluded.email, "updated_at": func.now()}
    if not keep_name:
        changes["full_name"] = stmt.excluded.full_name
    conn.execute(stmt.on_conflict_do_update(index_elements=[recipients.c.user_id], set_=changes))


def get_recipient(conn: Connection, user_id: uuid.UUID) -> Recipient | None:
    row = conn.execute(select(recipients.c.user_id, recipients.c.email, recipients.c.full_name)
                       .where(recipients.c.user_id == user_id)).first()
    return Recipient(row.user_id, row.email, row.full_name) if row else None


def upsert_course(conn: Connection, course_id: uuid.UUID, title: str, instructor_id: uuid.UUID) -> None:
    stmt = insert(courses).values(course_id=course_id, title=title, instructor_id=instructor_id)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[courses.c.course_id],
        set_={"title": stmt.excluded.title, "instructor_id": stmt.excluded.instructor_id, "updated_at": func.now()}))


def get_course(conn: Connection, course_id: uuid.UUID) -> CourseRecord | None:
    row = conn.execute(select(courses.c.course_id, courses.c.title, courses.c.instructor_id)
                       .where(courses.c.course_id == course_id)).first()
    return CourseRecord(row.course_id, row.title, row.instructor_id) if row else None


# --- preferences ------------------------------------------------------------------------------------------


def ensure_preferences(conn: Connection, user_id: uuid.UUID, defaults: Preferences) -> None:
    conn.execute(insert(preferences).values(user_id=user_id, **defaults.as_dict())
                 .on_conflict_do_nothing(index_elements=[preferences.c.user_id]))


def get_preferences(conn: Connection, user_id: uuid.UUID) -> Preferences | None:
    row = conn.execute(select(preferences).where(preferences.c.user_id == user_id)).first()
    if row is None:
        return None
    return Preferences(email=row.email, sms=row.sms, in_app=row.in_app, phone_number=row.phone_number,
                       categories=dict(row.categories or {}))


def save_preferences(conn: Connection, user_id: uuid.UUID, prefs: Preferences) -> None:
    values = prefs.as_dict()
    stmt = insert(preferences).values(user_id=user_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[preferences.c.user_id],
                                            set_={**values, "updated_at": func.now()}))


# --- in-app feed ------------------------------------------------------------------------------------------


def insert_notification(conn: Connection, *, id: uuid.UUID, user_id: uuid.UUID, event_id: uuid.UUID,
                        template: str, title: str, body: str, link: str | None, category: str) -> bool:
    result = conn.execute(
        insert(notifications).values(id=id, user_id=user_id, event_id=event_id, template=template, title=title,
                                     body=body, link=link, category=category)
        .on_conflict_do_nothing().returning(notifications.c.id))
    return result.first() is not None


def _notification(row: Any) -> NotificationRecord:
    return NotificationRecord(row.id, row.template, row.title, row.body, row.link, row.category, row.created_at,
                              row.read_at)


def list_notifications(conn: Connection, user_id: uuid.UUID, *, unread_only: bool, limit: int,
                       offset: int) -> tuple[list[NotificationRecord], int]:
    where = [notifications.c.user_id == user_id]
    if unread_only:
        where.append(notifications.c.read_at.is_(None))
    total = conn.execute(select(func.count()).select_from(notifications).where(*where)).scalar_one()
    rows = conn.execute(select(notifications).where(*where)
                        .order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
                        .limit(limit).offset(offset)).all()
    return [_notification(r) for r in rows], int(total)


def mark_read(conn: Connection, notification_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """True when the caller owns the notification (marking twice keeps the first read time)."""
    row = conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.user_id == user_id)
        .values(read_at=func.coalesce(notifications.c.read_at, func.now()))
        .returning(notifications.c.id)).first()
    return row is not None


# --- sends ------------------------------------------------------------------------------------------------


def insert_send(conn: Connection, *, id: uuid.UUID, event_id: uuid.UUID, user_id: uuid.UUID, channel: str,
                template: str, address: str | None, context: Mapping[str, Any], status: str,
                last_error: str | None = None, sent: bool = False) -> bool:
    values: dict[str, Any] = {"id": id, "event_id": event_id, "user_id": user_id, "channel": channel,
                              "template": template, "address": address, "context": dict(context), "status": status,
                              "last_error": last_error}
    if sent:
        values.update(attempts=1, sent_at=func.now())
    result = conn.execute(insert(sends).values(**values).on_conflict_do_nothing().returning(sends.c.id))
    return result.first() is not None


def send_status(conn: Connection, send_id: uuid.UUID) -> str | None:
    return conn.execute(select(sends.c.status).where(sends.c.id == send_id)).scalar_one_or_none()


def _send(row: Any) -> SendRecord:
    return SendRecord(row.id, row.event_id, row.user_id, row.channel, row.template, row.address,
                      dict(row.context or {}), row.status, row.attempts)


def claim_send(conn: Connection, send_id: uuid.UUID) -> SendRecord | None:
    """Atomically move a queued send to ``sending`` (one attempt more); None when it is not queued."""
    row = conn.execute(
        update(sends).where(sends.c.id == send_id, sends.c.status == SendStatus.QUEUED)
        .values(status=SendStatus.SENDING, attempts=sends.c.attempts + 1, updated_at=func.now())
        .returning(*sends.c)).first()
    return _send(row) if row else None


def get_send(conn: Connection, send_id: uuid.UUID) -> SendRecord | None:
    row = conn.execute(select(sends).where(sends.c.id == send_id)).first()
    return _send(row) if row else None


def finish_send(conn: Connection, send_id: uuid.UUID, status: str, *, provider_message_id: str | None = None,
                error: str | None = None, from_status: str | None = None, address: str | None = None) -> bool:
    values: dict[str, Any] = {"status": status, "updated_at": func.now()}
    if address is not None:
        values["address"] = address
    if provider_message_id is not None:
        values["provider_message_id"] = provider_message_id
    if status == SendStatus.SENT:
        values["sent_at"] = func.now()
    if error is not None:
        values["last_error"] = error[:2000]
    stmt = update(sends).where(sends.c.id == send_id)
    if from_status is not None:
        stmt = stmt.where(sends.c.status == from_status)
    return conn.execute(stmt.values(**values).returning(sends.c.id)).first() is not None
