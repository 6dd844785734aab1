"""Pure rules of users and access: no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from smartcourse_lms.auth.domain import (
    FailureCount,
    PolicyViolation,
    RefreshOutcome,
    RefreshTokenState,
    Role,
    ThrottlePolicy,
    UserStatus,
    can_revoke_role,
    check_password_policy,
    hash_token,
    is_plausible_email,
    new_token,
    normalise_email,
    refresh_outcome,
    registration_roles,
    sort_roles,
    throttle_retry_after,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("password", ["Abcdefg1", "x" * 8, "12345678a", "p" * 128, "pässwörd"])
def test_acceptable_passwords(password: str) -> None:
    check_password_policy(password)


@pytest.mark.parametrize("password", ["short", "1234567", "12345678", "0" * 40, "x" * 129, " " * 10])
def test_rejected_passwords(password: str) -> None:
    with pytest.raises(PolicyViolation):
        check_password_policy(password)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalise_email("  Ada.Lovelace@Example.COM \n") == "ada.lovelace@example.com"


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@sub.example.org", "admin@smartcourse.local"])
def test_plausible_emails(email: str) -> None:
    assert is_plausible_email(email)


@pytest.mark.parametrize("email", ["", "plain", "a@b", "a b@c.de", "a@@b.co", "a@-b.co", "@b.co",
                                   "a@" + "b" * 300 + ".co"])
def test_implausible_emails(email: str) -> None:
    assert not is_plausible_email(email)


def test_registration_roles_default_to_student_and_never_admin() -> None:
    assert registration_roles(None) == [Role.STUDENT]
    assert registration_roles("instructor") == [Role.INSTRUCTOR]
    with pytest.raises(PolicyViolation):
        registration_roles("admin")
    with pytest.raises(ValueError):
        registration_roles("root")


def test_roles_are_listed_in_canonical_order() -> None:
    assert sort_roles(["admin", "student", "instructor", "admin"]) == [Role.STUDENT, Role.INSTRUCTOR, Role.ADMIN]


def test_an_admin_cannot_revoke_their_own_admin_role_only() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    assert not can_revoke_role(me, me, Role.ADMIN)
    assert can_revoke_role(me, me, Role.INSTRUCTOR)
    assert can_revoke_role(me, other, Role.ADMIN)


def test_tokens_are_random_and_stored_as_sha256() -> None:
    a, b = new_token(), new_token()
    assert a != b and len(a) >= 43
    assert hash_token(a) == hash_token(a) and len(hash_token(a)) == 64 and hash_token(a) != a


def _token(**overrides: object) -> RefreshTokenState:
    values: dict[str, object] = {"id": uuid.uuid4(), "user_id": uuid.uuid4(), "family_id": uuid.uuid4(),
                                 "expires_at": NOW + timedelta(days=1), "replaced_by": None, "revoked_at": None}
    values.update(overrides)
    return RefreshTokenState(**values)  # type: ignore[arg-type]


def test_refresh_rotation_rules() -> None:
    active = UserStatus.ACTIVE
    assert refresh_outcome(_token(), active, NOW) is RefreshOutcome.ROTATE
    assert refresh_outcome(_token(replaced_by=uuid.uuid4()), active, NOW) is RefreshOutcome.REUSE
    assert refresh_outcome(_token(revoked_at=NOW), active, NOW) is RefreshOutcome.REUSE
    assert refresh_outcome(_token(expires_at=NOW), active, NOW) is RefreshOutcome.EXPIRED
    assert refresh_outcome(_token(), UserStatus.BLOCKED, NOW) is RefreshOutcome.USER_BLOCKED
    # A replayed token burns the family even once it has expired.
    assert refresh_outcome(_token(replaced_by=uuid.uuid4(), expires_at=NOW - timedelta(days=1)), active,
                           NOW) is RefreshOutcome.REUSE


POLICY = ThrottlePolicy(max_failures_per_email=5, max_failures_per_ip=50, window=timedelta(minutes=15))
NONE = FailureCount(0, None)


def test_not_throttled_below_the_limit() -> None:
    assert throttle_retry_after(POLICY, FailureCount(4, NOW - timedelta(minutes=1)), NONE, NOW) is None


def test_throttled_for_the_rest_of_the_window_per_email() -> None:
    oldest = NOW - timedelta(minutes=10)
    wait = throttle_retry_after(POLICY, FailureCount(5, oldest), NONE, NOW)
    assert wait is not None and 5 * 60 <= wait <= 5 * 60 + 1


def test_throttled_per_ip() -> None:
    assert throttle_retry_after(POLICY, NONE, FailureCount(50, NOW), NOW) is not None
    assert throttle_retry_after(POLICY, NONE, FailureCount(49, NOW), NOW) is None


def test_window_start() -> None:
    assert POLICY.window_start(NOW) == NOW - timedelta(minutes=15)
