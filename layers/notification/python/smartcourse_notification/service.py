"""Use cases behind the Notifications API: the caller's feed, preferences, and template admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smartcourse.errors import Forbidden, NotFound, ValidationFailed
from smartcourse.principal import Principal, Role
from sqlalchemy import Engine

from smartcourse_notification import repository as repo
from smartcourse_notification.rendering import (
    TEMPLATES,
    MissingVariables,
    Rendered,
    TemplateSpec,
    UnknownTemplate,
    render,
    template_spec,
)
from smartcourse_notification.rules import DEFAULT_PREFERENCES, Preferences

NOTIFICATION_NOT_FOUND = "Notification not found"
TEMPLATE_NOT_FOUND = "Template not found"


@dataclass(frozen=True)
class FeedPage:
    items: list[repo.NotificationRecord]
    total: int
    limit: int
    offset: int


def _require_admin(caller: Principal) -> None:
    if not caller.has_role(Role.ADMIN):
        raise Forbidden("Not allowed")


class NotificationService:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    def feed(self, caller: Principal, *, unread_only: bool, limit: int, offset: int) -> FeedPage:
        with self._engine().connect() as conn:
            items, total = repo.list_notifications(conn, caller.user_id, unread_only=unread_only, limit=limit,
                                                   offset=offset)
        return FeedPage(items, total, limit, offset)

    def mark_read(self, caller: Principal, notification_id: uuid.UUID) -> None:
        with self._engine().begin() as conn:
            if not repo.mark_read(conn, notification_id, caller.user_id):
                # Someone else's notification is as unknown to the caller as a missing one.
                raise NotFound(NOTIFICATION_NOT_FOUND)

    def preferences(self, caller: Principal) -> Preferences:
        with self._engine().connect() as conn:
            return repo.get_preferences(conn, caller.user_id) or DEFAULT_PREFERENCES

    def update_preferences(self, caller: Principal, changes: Mapping[str, Any]) -> Preferences:
        with self._engine().begin() as conn:
            current = repo.get_preferences(conn, caller.user_id) or DEFAULT_PREFERENCES
            updated = current.with_changes(changes)
            if updated.sms and not updated.phone_number:
                raise ValidationFailed("SMS needs a phone number", [
                    {"loc": ["body", "phone_number"], "msg": "required when sms is on", "type": "value_error"}])
            repo.save_preferences(conn, caller.user_id, updated)
        return updated


def list_templates(caller: Principal) -> list[TemplateSpec]:
    _require_admin(caller)
    return [TEMPLATES[name] for name in sorted(TEMPLATES)]


def preview_template(caller: Principal, name: str, context: Mapping[str, Any] | None) -> Rendered:
    _require_admin(caller)
    try:
        spec = template_spec(name)
    except UnknownTemplate:
        raise NotFound(TEMPLATE_NOT_FOUND) from None
    try:
        return render(name, spec.sample if context is None else context)
    except MissingVariables as exc:
        raise ValidationFailed(str(exc), [
            {"loc": ["body", "context", v], "msg": "Field required", "type": "missing"} for v in exc.missing
        ]) from exc


_service: NotificationService | None = None


def get_notification_service() -> NotificationService:
    global _service
    if _service is None:
        from smartcourse.db.engine import get_engine

        _service = NotificationService(get_engine)
    return _service
