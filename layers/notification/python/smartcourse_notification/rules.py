"""Pure notification rules: preferences, who gets what on which channel, send identities. No I/O."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from smartcourse_notification.domain import Channel
from smartcourse_notification.rendering import OPTIONAL_CATEGORIES, TemplateSpec

# Fixed namespace: a send's id is a function of (event, recipient, channel), so a redelivered event
# recreates the very same id and can never plan a second send.
SEND_NAMESPACE = uuid.UUID("6f7c1d0e-3b0a-4f58-9a55-2c1f0b7e4d21")
# Keys of a send's context that are not template variables: the in-app link, and the course whose title the
# sender fills in from the courses projection when it delivers.
LINK_KEY = "link"
COURSE_KEY = "course_id"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def send_id(event_id: uuid.UUID, user_id: uuid.UUID, channel: Channel | str) -> uuid.UUID:
    return uuid.uuid5(SEND_NAMESPACE, f"{event_id}:{user_id}:{Channel(channel).value}")


def is_e164(number: str) -> bool:
    return bool(E164.fullmatch(number))


def report_template(scheduled: bool) -> str:
    """A report its owner asked for is the answer to a request, sent whatever the preferences say; a scheduled
    one is a digest in the ``reports`` category, which the owner may switch off."""
    return "scheduled_report_ready" if scheduled else "report_ready"


def report_period(period_from: date, period_to: date) -> str:
    """A report's period as its mail names it: one day, or the first and last day (both included)."""
    if period_from == period_to:
        return period_from.isoformat()
    return f"{period_from.isoformat()} to {period_to.isoformat()}"


@dataclass(frozen=True)
class Preferences:
    email: bool = True
    sms: bool = False
    in_app: bool = True
    phone_number: str | None = None
    categories: Mapping[str, bool] = field(default_factory=lambda: dict(OPTIONAL_CATEGORIES))

    def wants(self, category: str) -> bool:
        return bool(self.categories.get(category, OPTIONAL_CATEGORIES.get(category, True)))

    def with_changes(self, changes: Mapping[str, Any]) -> Preferences:
        """These preferences with the given fields replaced; ``categories`` merges per category.

        A null flag keeps its value; a null ``phone_number`` removes the number.
        """
        categories = {**OPTIONAL_CATEGORIES, **self.categories, **(changes.get("categories") or {})}

        def flag(name: str) -> bool:
            value = changes.get(name)
            return bool(getattr(self, name) if value is None else value)  # null: unchanged

        return Preferences(
            email=flag("email"),
            sms=flag("sms"),
            in_app=flag("in_app"),
            phone_number=changes.get("phone_number", self.phone_number),
            categories=categories,
        )

    def as_dict(self) -> dict[str, Any]:
        return {"email": self.email, "sms": self.sms, "in_app": self.in_app, "phone_number": self.phone_number,
                "categories": {**OPTIONAL_CATEGORIES, **self.categories}}


DEFAULT_PREFERENCES = Preferences()


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    email: str
    full_name: str | None

    @property
    def display_name(self) -> str:
        return self.full_name or self.email.split("@", 1)[0]


@dataclass(frozen=True)
class Decision:
    """Whether a channel of a template goes out to a recipient, where to, or why not."""

    channel: Channel
    send: bool
    address: str | None = None
    reason: str | None = None


def decide(spec: TemplateSpec, preferences: Preferences) -> tuple[Decision, ...]:
    """One decision per channel of ``spec``.

    Transactional mail ignores every opt-out (the account cannot work without it). Otherwise the category
    and the channel must both be switched on. SMS needs a phone number on file whatever the category; the
    carrier-level opt-out is checked by the sender, right before publishing. The email address is the
    sender's to look up (from the recipients projection) when it delivers.
    """
    return tuple(_decide_channel(spec, preferences, channel) for channel in spec.channels)


def _decide_channel(spec: TemplateSpec, preferences: Preferences, channel: Channel) -> Decision:
    if not spec.transactional:
        if not preferences.wants(spec.category):
            return Decision(channel, False, reason=f"category {spec.category.value} switched off")
        if not getattr(preferences, channel.value):
            return Decision(channel, False, reason=f"channel {channel.value} switched off")
    if channel is Channel.SMS:
        if not preferences.phone_number:
            return Decision(channel, False, reason="no phone number on file")
        return Decision(channel, True, address=preferences.phone_number)
    return Decision(channel, True)
