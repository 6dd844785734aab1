"""Request and response bodies of the Notifications API (they shape the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from smartcourse_notification.rendering import OPTIONAL_CATEGORIES, Rendered, TemplateSpec
from smartcourse_notification.rules import E164, Preferences

# Annotations only: the repositories import SQLAlchemy, which a handler's init must not pay for.
if TYPE_CHECKING:
    from smartcourse_notification.repository import NotificationRecord


PhoneNumber = Annotated[str, Field(pattern=E164.pattern, description="E.164, e.g. +4915112345678",
                                   examples=["+4915112345678"])]


class NotificationOut(BaseModel):
    id: uuid.UUID
    template: str
    category: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None
    read: bool

    @classmethod
    def of(cls, record: NotificationRecord) -> NotificationOut:
        return cls.model_validate({**record.__dict__, "read": record.read_at is not None})


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    total: int
    limit: int
    offset: int


class PreferencesOut(BaseModel):
    email: bool
    sms: bool
    in_app: bool
    phone_number: str | None
    categories: dict[str, bool] = Field(description="per category: whether to notify; transactional mail "
                                                    "(verification, password reset) ignores every opt-out")

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesOut:
        return cls.model_validate(prefs.as_dict())


class PreferencesUpdate(BaseModel):
    """Fields that are left out keep their current value; ``categories`` merges per category."""

    model_config = ConfigDict(extra="forbid")

    # strict: 0/1 or "yes" are not booleans.
    email: StrictBool | None = None
    sms: StrictBool | None = None
    in_app: StrictBool | None = None
    phone_number: PhoneNumber | None = None
    categories: dict[str, StrictBool] | None = Field(
        default=None, description=f"known categories: {', '.join(OPTIONAL_CATEGORIES)}")

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: dict[str, bool] | None) -> dict[str, bool] | None:
        unknown = sorted(set(value or {}) - set(OPTIONAL_CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories: {', '.join(unknown)} (known: {', '.join(OPTIONAL_CATEGORIES)})")
        return value

    def changes(self) -> dict[str, Any]:
        # Only what the caller sent; an explicit ``"phone_number": null`` removes the number.
        return self.model_dump(exclude_unset=True)


class TemplateOut(BaseModel):
    name: str
    description: str
    category: str
    channels: list[str]
    required_variables: list[str]

    @classmethod
    def of(cls, spec: TemplateSpec) -> TemplateOut:
        return cls(name=spec.name, description=spec.description, category=spec.category.value,
                   channels=[c.value for c in spec.channels], required_variables=list(spec.variables))


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: dict[str, Any] | None = Field(
        default=None, description="template variables; the template's sample context when left out")


class PreviewOut(BaseModel):
    template: str
    subject: str
    text: str | None
    html: str | None
    in_app: str | None = None
    sms: str | None = None

    @classmethod
    def of(cls, name: str, rendered: Rendered) -> PreviewOut:
        return cls(template=name, subject=rendered.subject, text=rendered.text, html=rendered.html,
                   in_app=rendered.in_app, sms=rendered.sms)


class TemplatePageOut(BaseModel):
    items: list[TemplateOut]
    total: int
    limit: int
    offset: int
