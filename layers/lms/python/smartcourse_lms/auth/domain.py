"""Rules about users and access. Pure: no I/O, no clock (``now`` is always passed in).

Roles and the principal are the platform's (``smartcourse.principal``): every service's API reads them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from smartcourse.principal import ANONYMOUS, ANONYMOUS_PRINCIPAL_ID, Principal, Role

__all__ = ["ANONYMOUS", "ANONYMOUS_PRINCIPAL_ID", "Principal", "Role"]  # re-exported for the LMS's own modules

# Roles a person may pick for themself at registration; ``admin`` is only ever granted.
SELF_ASSIGNABLE_ROLES = frozenset({Role.STUDENT, Role.INSTRUCTOR})
ROLE_ORDER = (Role.STUDENT, Role.INSTRUCTOR, Role.ADMIN)


class UserStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 320
FULL_NAME_MAX_LENGTH = 200


class PolicyViolation(ValueError):
    """A value that breaks a rule; the message is safe to show."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


# Syntax only, deliberately permissive: local and test domains (.local, .test) are real here, and
# deliverability is proven by the verification mail, not by a pattern.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def is_plausible_email(email: str) -> bool:
    return len(email) <= EMAIL_MAX_LENGTH and _EMAIL.match(email) is not None


def check_password_policy(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise PolicyViolation(f"Password must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PolicyViolation(f"Password must be at most {PASSWORD_MAX_LENGTH} characters")
    if password.isdigit():
        raise PolicyViolation("Password must not be only digits")
    if not password.strip():
        raise PolicyViolation("Password must not be blank")


def registration_roles(requested: Role | str | None) -> list[Role]:
    role = Role(requested) if requested else Role.STUDENT
    if role not in SELF_ASSIGNABLE_ROLES:
        raise PolicyViolation(f"Role {role} cannot be chosen at registration")
    return [role]


def sort_roles(roles: Iterable[str]) -> list[Role]:
    held = {Role(r) for r in roles}
    return [r for r in ROLE_ORDER if r in held]


def can_revoke_role(actor_id: uuid.UUID, target_id: uuid.UUID, role: Role) -> bool:
    """An admin may not drop their own admin role (it could leave the platform without one)."""
    return not (actor_id == target_id and role is Role.ADMIN)


# --- opaque tokens (refresh, email verification, password reset) -------------------------------------

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the database stores: tokens have 256 bits of entropy, so a fast unsalted hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OneTimeToken:
    id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


# --- refresh-token rotation ----------------------------------------------------------------------------

class RefreshOutcome(StrEnum):
    ROTATE = "rotate"  # valid: issue a successor in the same family
    REUSE = "reuse"  # already rotated or revoked: someone replays it, revoke the family
    EXPIRED = "expired"
    USER_BLOCKED = "user_blocked"


@dataclass(frozen=True)
class RefreshTokenState:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime
    replaced_by: uuid.UUID | None
    revoked_at: datetime | None


def refresh_outcome(token: RefreshTokenState, user_status: UserStatus, now: datetime) -> RefreshOutcome:
    # Reuse is checked first: a replayed token must burn the family even when it has also expired.
    if token.replaced_by is not None or token.revoked_at is not None:
        return RefreshOutcome.REUSE
    if now >= token.expires_at:
        return RefreshOutcome.EXPIRED
    if user_status is not UserStatus.ACTIVE:
        return RefreshOutcome.USER_BLOCKED
    return RefreshOutcome.ROTATE


# --- login throttling ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_email: int
    max_failures_per_ip: int
    window: timedelta

    def window_start(self, now: datetime) -> datetime:
        return now - self.window


@dataclass(frozen=True)
class FailureCount:
    count: int
    oldest: datetime | None  # oldest failure inside the window


def throttle_retry_after(policy: ThrottlePolicy, by_email: FailureCount, by_ip: FailureCount,
                         now: datetime) -> int | None:
    """Seconds until a login may be tried again, or None when not throttled.

    Once the limit is reached inside the window, every attempt (even with the
    right password) is refused until the oldest counted failure leaves it.
    """
    waits = []
    for counted, limit in ((by_email, policy.max_failures_per_email), (by_ip, policy.max_failures_per_ip)):
        if limit > 0 and counted.count >= limit:
            oldest = counted.oldest or now
            waits.append(max(1, int((oldest + policy.window - now).total_seconds()) + 1))
    return max(waits) if waits else None


# --- users -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    full_name: str | None
    status: UserStatus
    roles: tuple[Role, ...]
    email_verified_at: datetime | None
    created_at: datetime
    updated_at: datetime
    password_hash: str = field(repr=False, default="")

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    def has_role(self, role: Role) -> bool:
        return role in self.roles
