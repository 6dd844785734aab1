"""Events about users (topic ``smartcourse.user-events``).

Secrets never travel in events. ``verification_token_ref`` and
``reset_token_ref`` are the ids of the token rows in the LMS database, which
stores only a SHA-256 of each token. The notification service exchanges a
reference for a usable token through the LMS (``AuthService.issue_verification_token``
/ ``issue_reset_token``), which re-keys that row and returns the clear token
once, only while the row is unused and unexpired. So a leaked event, topic
dump or DLQ record grants nothing.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from smartcourse_events.base import EventPayload
from smartcourse_events.topics import USER_EVENTS

RoleName = Literal["student", "instructor", "admin"]


class _UserEvent(EventPayload):
    topic: ClassVar[str] = USER_EVENTS
    aggregate_type: ClassVar[str] = "user"

    user_id: uuid.UUID


class UserRegisteredV1(_UserEvent):
    event_type: ClassVar[str] = "user.registered"
    event_version: ClassVar[int] = 1

    email: str = Field(max_length=320)
    full_name: str | None = Field(default=None, max_length=200)
    roles: list[RoleName]
    verification_token_ref: uuid.UUID


class UserPasswordResetRequestedV1(_UserEvent):
    event_type: ClassVar[str] = "user.password_reset_requested"
    event_version: ClassVar[int] = 1

    email: str = Field(max_length=320)
    reset_token_ref: uuid.UUID


class UserEmailVerifiedV1(_UserEvent):
    event_type: ClassVar[str] = "user.email_verified"
    event_version: ClassVar[int] = 1


class UserRoleChangedV1(_UserEvent):
    event_type: ClassVar[str] = "user.role_changed"
    event_version: ClassVar[int] = 1

    role: RoleName
    granted: bool
