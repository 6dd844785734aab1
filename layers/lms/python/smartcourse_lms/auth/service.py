"""Use cases of users and access. Each opens one unit of work; handlers and CLIs call these only."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smartcourse.db.unit_of_work import UnitOfWork
from smartcourse.errors import BadRequest, Conflict, Forbidden, NotFound, Throttled, Unauthorized, ValidationFailed
from smartcourse.pagination import DEFAULT_LIMIT

from smartcourse_lms.auth import repository as repo
from smartcourse_lms.auth.domain import (
    FULL_NAME_MAX_LENGTH,
    PolicyViolation,
    Principal,
    RefreshOutcome,
    Role,
    ThrottlePolicy,
    User,
    UserStatus,
    can_revoke_role,
    check_password_policy,
    hash_token,
    new_token,
    normalise_email,
    refresh_outcome,
    registration_roles,
    throttle_retry_after,
)
from smartcourse_lms.auth.passwords import Passwords
from smartcourse_lms.tables import email_verification_tokens, password_reset_tokens

if TYPE_CHECKING:
    from smartcourse.settings import Settings
    from sqlalchemy import Table

    from smartcourse_lms.auth.tokens import AccessClaims, AccessTokens

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH = "Invalid or expired refresh token"
TOO_MANY_FAILURES = "Too many failed login attempts; try again later"


@dataclass(frozen=True)
class AuthConfig:
    refresh_ttl: timedelta
    verification_ttl: timedelta
    reset_ttl: timedelta
    throttle: ThrottlePolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        return cls(
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
            verification_ttl=timedelta(seconds=settings.email_verification_ttl_seconds),
            reset_ttl=timedelta(seconds=settings.password_reset_ttl_seconds),
            throttle=ThrottlePolicy(
                max_failures_per_email=settings.login_max_failures,
                max_failures_per_ip=settings.login_max_failures_per_ip,
                window=timedelta(seconds=settings.login_failure_window_seconds),
            ),
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - OAuth2 token type, not a secret


@dataclass(frozen=True)
class Registration:
    user: User
    verification_token_ref: uuid.UUID


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    total: int
    limit: int
    offset: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuthService:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        config: AuthConfig,
        *,
        passwords: Passwords | None = None,
        access_tokens: AccessTokens | Callable[[], AccessTokens] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._uow = unit_of_work
        self.config = config
        self.passwords = passwords or Passwords()
        self._access_tokens = access_tokens
        self._clock = clock

    @property
    def access_tokens(self) -> AccessTokens:
        # Resolved on first use: only login/refresh/authorizer need the signing key (and its secret read).
        from smartcourse_lms.auth.tokens import AccessTokens

        if self._access_tokens is None:
            raise RuntimeError("this service was built without access tokens")
        if not isinstance(self._access_tokens, AccessTokens):
            self._access_tokens = self._access_tokens()
        return self._access_tokens

    # --- registration and email verification -------------------------------------------------------

    def register(self, email: str, password: str, full_name: str | None = None,
                 role: Role | str | None = None) -> Registration:
        email = normalise_email(email)
        try:
            check_password_policy(password)
            roles = registration_roles(role)
        except (PolicyViolation, ValueError) as exc:
            raise ValidationFailed(str(exc)) from exc
        now = self._clock()
        user_id = uuid.uuid4()
        password_hash = self.passwords.hash(password)
        with self._uow() as uow:
            if not repo.insert_user(uow.connection, user_id=user_id, email=email, password_hash=password_hash,
                                    full_name=full_name, roles=roles, now=now):
                raise Conflict("Email already registered")
            token_ref = self._new_one_time_token(uow, email_verification_tokens, user_id, now,
                                                 self.config.verification_ttl)
            from smartcourse_events.user import UserRegisteredV1

            uow.emit(UserRegisteredV1(user_id=user_id, email=email, full_name=full_name,
                                      roles=[r.value for r in roles], verification_token_ref=token_ref),
                     occurred_at=now)
            user = repo.get_user(uow.connection, user_id)
            uow.commit()
        assert user is not None
        return Registration(user, token_ref)

    def verify_email(self, token: str) -> User:
        now = self._clock()
        with self._uow() as uow:
            row = repo.find_one_time_token(uow.connection, email_verification_tokens, token_hash=hash_token(token))
            if row is None or not row.usable(now):
                raise BadRequest("Invalid or expired verification token")
            repo.use_one_time_tokens(uow.connection, email_verification_tokens, row.user_id, now)
            user = repo.get_user(uow.connection, row.user_id, for_update=True)
            if user is None:
                raise BadRequest("Invalid or expired verification token")
            if not user.email_verified:
                repo.update_user(uow.connection, user.id, {"email_verified_at": now}, now)
                from smartcourse_events.user import UserEmailVerifiedV1

                uow.emit(UserEmailVerifiedV1(user_id=user.id), occurred_at=now)
            user = repo.get_user(uow.connection, user.id)
            uow.commit()
        assert user is not None
        return user

    def issue_verification_token(self, token_ref: uuid.UUID) -> str:
        """The clear token for a ``user.registered`` event's reference (for the notification service)."""
        return self._issue_one_time_token(email_verification_tokens, token_ref)

    def issue_reset_token(self, token_ref: uuid.UUID) -> str:
        """The clear token for a ``user.password_reset_requested`` event's reference."""
        return self._issue_one_time_token(password_reset_tokens, token_ref)

    def _issue_one_time_token(self, table: Table, token_ref: uuid.UUID) -> str:
        # Only a hash is stored, so the row is re-keyed: a previously issued clear token stops working.
        now = self._clock()
        with self._uow() as uow:
            row = repo.find_one_time_token(uow.connection, table, token_id=token_ref)
            if row is None or not row.usable(now):
                raise NotFound("Token reference unknown, used or expired")
            token = new_token()
            repo.rekey_one_time_token(uow.connection, table, row.id, hash_token(token))
            uow.commit()
        return token

    def _new_one_time_token(self, uow: UnitOfWork, table: Table, user_id: uuid.UUID, now: datetime,
                            ttl: timedelta) -> uuid.UUID:
        token_id = uuid.uuid4()
        # Nobody knows this token: the clear one is minted when the notification service asks for it.
        repo.insert_one_time_token(uow.connection, table, token_id=token_id, user_id=user_id,
                                   token_hash=hash_token(new_token()), now=now, expires_at=now + ttl)
        return token_id

    # --- sessions ----------------------------------------------------------------------------------

    def login(self, email: str, password: str, source_ip: str | None = None) -> TokenPair:
        email = normalise_email(email)
        now = self._clock()
        policy = self.config.throttle
        with self._uow() as uow:
            conn = uow.connection
            by_email, by_ip = repo.count_failures(conn, email=email, source_ip=source_ip,
                                                  since=policy.window_start(now))
            retry_after = throttle_retry_after(policy, by_email, by_ip, now)
            if retry_after is not None:
                raise Throttled(TOO_MANY_FAILURES, retry_after)
            user = repo.get_user_by_email(conn, email)
            if user is None:
                self.passwords.burn_time(password)
                ok = False
            else:
                ok = self.passwords.verify(user.password_hash, password)
            if not ok or user is None:
                repo.record_failure(conn, email=email, source_ip=source_ip, now=now,
                                    forget_before=policy.window_start(now))
                uow.commit()
                raise Unauthorized(INVALID_CREDENTIALS)
            if not user.active:
                raise Forbidden("Account is blocked")
            repo.clear_failures(conn, email)
            if self.passwords.needs_rehash(user.password_hash):
                repo.update_user(conn, user.id, {"password_hash": self.passwords.hash(password)}, now)
            pair = self._issue_pair(uow, user, uuid.uuid4(), now)
            uow.commit()
        return pair

    def refresh(self, refresh_token: str) -> TokenPair:
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            token = repo.find_refresh_token(conn, hash_token(refresh_token), for_update=True)
            if token is None:
                raise Unauthorized(INVALID_REFRESH)
            user = repo.get_user(conn, token.user_id)
            if user is None:
                raise Unauthorized(INVALID_REFRESH)
            outcome = refresh_outcome(token, user.status, now)
            if outcome is RefreshOutcome.REUSE:
                revoked = repo.revoke_family(conn, token.family_id, now, "reuse_detected")
                uow.commit()
                log.warning("refresh token reuse detected", extra={"user_id": str(user.id),
                                                                   "family_id": str(token.family_id),
                                                                   "revoked": revoked})
                raise Unauthorized(INVALID_REFRESH)
            if outcome is not RefreshOutcome.ROTATE:
                raise Unauthorized(INVALID_REFRESH)
            successor = uuid.uuid4()
            pair = self._issue_pair(uow, user, token.family_id, now, token_id=successor)
            repo.mark_rotated(conn, token.id, successor, now)
            uow.commit()
        return pair

    def _issue_pair(self, uow: UnitOfWork, user: User, family_id: uuid.UUID, now: datetime,
                    token_id: uuid.UUID | None = None) -> TokenPair:
        refresh = new_token()
        repo.insert_refresh_token(uow.connection, token_id=token_id or uuid.uuid4(), user_id=user.id,
                                  family_id=family_id, token_hash=hash_token(refresh), now=now,
                                  expires_at=now + self.config.refresh_ttl)
        tokens = self.access_tokens
        access = tokens.issue(user.id, [r.value for r in user.roles], now)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=tokens.ttl_seconds)

    def logout(self, user_id: uuid.UUID, refresh_token: str) -> None:
        """Revoke the presented refresh token if it is the caller's; unknown tokens are a no-op (idempotent)."""
        now = self._clock()
        with self._uow() as uow:
            token = repo.find_refresh_token(uow.connection, hash_token(refresh_token), for_update=True)
            if token is not None and token.user_id == user_id:
                repo.revoke_token(uow.connection, token.id, now, "logout")
            uow.commit()

    def me(self, user_id: uuid.UUID) -> User:
        with self._uow() as uow:
            user = repo.get_user(uow.connection, user_id)
        if user is None:
            raise NotFound("User not found")
        return user

    def authenticate(self, access_token: str) -> tuple[AccessClaims, User]:
        """For the authorizer: a valid token of an existing user (Unauthorized), who is active (Forbidden)."""
        from smartcourse_lms.auth.tokens import InvalidAccessToken

        try:
            claims = self.access_tokens.verify(access_token, self._clock())
        except InvalidAccessToken as exc:
            raise Unauthorized("Invalid access token") from exc
        with self._uow() as uow:
            user = repo.get_user(uow.connection, claims.user_id)
        if user is None:
            raise Unauthorized("Invalid access token")
        if not user.active:
            raise Forbidden("Account is blocked")
        return claims, user

    # --- passwords ---------------------------------------------------------------------------------

    def forgot_password(self, email: str) -> uuid.UUID | None:
        """Start a reset for an active account; silent for unknown ones (no account enumeration)."""
        email = normalise_email(email)
        now = self._clock()
        with self._uow() as uow:
            user = repo.get_user_by_email(uow.connection, email)
            if user is None or not user.active:
                return None
            ref = self._new_one_time_token(uow, password_reset_tokens, user.id, now, self.config.reset_ttl)
            from smartcourse_events.user import UserPasswordResetRequestedV1

            uow.emit(UserPasswordResetRequestedV1(user_id=user.id, email=user.email, reset_token_ref=ref),
                     occurred_at=now)
            uow.commit()
        return ref

    def reset_password(self, token: str, new_password: str) -> None:
        try:
            check_password_policy(new_password)
        except PolicyViolation as exc:
            raise ValidationFailed(str(exc)) from exc
        now = self._clock()
        password_hash = self.passwords.hash(new_password)
        with self._uow() as uow:
            conn = uow.connection
            row = repo.find_one_time_token(conn, password_reset_tokens, token_hash=hash_token(token))
            if row is None or not row.usable(now):
                raise BadRequest("Invalid or expired reset token")
            repo.use_one_time_tokens(conn, password_reset_tokens, row.user_id, now)
            repo.update_user(conn, row.user_id, {"password_hash": password_hash}, now)
            repo.revoke_user_tokens(conn, row.user_id, now, "password_reset")
            repo.clear_failures_for_user(conn, row.user_id)
            uow.commit()

    # --- administration ----------------------------------------------------------------------------

    @staticmethod
    def _require_admin(actor: Principal) -> None:
        if not actor.is_admin:
            raise Forbidden("Admin role required")

    def list_users(self, actor: Principal, *, role: Role | None = None, status: UserStatus | None = None,
                   q: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0) -> UserPage:
        self._require_admin(actor)
        with self._uow() as uow:
            items, total = repo.list_users(uow.connection, role=role, status=status, q=q or None,
                                           limit=limit, offset=offset)
        return UserPage(items, total, limit, offset)

    def update_user(self, actor: Principal, user_id: uuid.UUID, changes: Mapping[str, Any]) -> User:
        """Apply ``status`` and/or ``full_name`` (only the keys present). Blocking revokes refresh tokens."""
        self._require_admin(actor)
        unknown = set(changes) - {"status", "full_name"}
        if unknown:
            raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}")
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            user = repo.get_user(conn, user_id, for_update=True)
            if user is None:
                raise NotFound("User not found")
            values: dict[str, Any] = {}
            if "full_name" in changes:
                full_name = changes["full_name"]
                if full_name is not None and len(full_name) > FULL_NAME_MAX_LENGTH:
                    raise ValidationFailed("full_name is too long")
                values["full_name"] = full_name
            if changes.get("status") is not None:
                status = UserStatus(changes["status"])
                if status is UserStatus.BLOCKED and user.id == actor.user_id:
                    raise Conflict("Admins cannot block themselves")
                values["status"] = status.value
                if status is UserStatus.BLOCKED:
                    repo.revoke_user_tokens(conn, user.id, now, "blocked")
            if values:
                repo.update_user(conn, user.id, values, now)
            updated = repo.get_user(conn, user.id)
            uow.commit()
        assert updated is not None
        return updated

    def grant_role(self, actor: Principal, user_id: uuid.UUID, role: Role) -> User:
        self._require_admin(actor)
        return self._change_role(actor, user_id, Role(role), granted=True)

    def revoke_role(self, actor: Principal, user_id: uuid.UUID, role: Role) -> User:
        self._require_admin(actor)
        role = Role(role)
        if not can_revoke_role(actor.user_id, user_id, role):
            raise Conflict("Admins cannot remove their own admin role")
        return self._change_role(actor, user_id, role, granted=False)

    def _change_role(self, actor: Principal, user_id: uuid.UUID, role: Role, *, granted: bool) -> User:
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            if repo.get_user(conn, user_id, for_update=True) is None:
                raise NotFound("User not found")
            if granted:
                changed = repo.add_role(conn, user_id, role, actor.user_id, now)
            else:
                changed = repo.remove_role(conn, user_id, role)
            if changed:
                from smartcourse_events.user import UserRoleChangedV1

                uow.emit(UserRoleChangedV1(user_id=user_id, role=role.value, granted=granted), occurred_at=now)
            user = repo.get_user(conn, user_id)
            uow.commit()
        assert user is not None
        return user

    # --- bootstrap -----------------------------------------------------------------------------------

    def bootstrap_admin(self, email: str, password: str, full_name: str | None = "Administrator") -> tuple[User, bool]:
        """Create the admin, or promote the existing account with that email. Idempotent.

        An existing account keeps its password (rotating it is the reset flow's job) but is
        re-activated and given ``admin``. Returns the user and whether it was created.
        """
        email = normalise_email(email)
        try:
            check_password_policy(password)
        except PolicyViolation as exc:
            raise ValidationFailed(str(exc)) from exc
        now = self._clock()
        with self._uow() as uow:
            conn = uow.connection
            user = repo.get_user_by_email(conn, email, for_update=True)
            created = user is None
            if user is None:
                user_id = uuid.uuid4()
                if not repo.insert_user(conn, user_id=user_id, email=email, password_hash=self.passwords.hash(password),
                                        full_name=full_name, roles=[], now=now):
                    raise Conflict("Email already registered")
                # The operator chose this address; there is nobody to send a verification mail to.
                repo.update_user(conn, user_id, {"email_verified_at": now}, now)
            else:
                user_id = user.id
                if not user.active:
                    repo.update_user(conn, user_id, {"status": UserStatus.ACTIVE.value}, now)
            if repo.add_role(conn, user_id, Role.ADMIN, None, now):
                from smartcourse_events.user import UserRoleChangedV1

                uow.emit(UserRoleChangedV1(user_id=user_id, role=Role.ADMIN.value, granted=True), occurred_at=now)
            result = repo.get_user(conn, user_id)
            uow.commit()
        assert result is not None
        return result, created


def auth_service_from_settings() -> AuthService:
    """The service wired to this process's settings, engine and signing key (each resolved lazily)."""
    from smartcourse.db.engine import get_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from smartcourse.settings import get_settings

    from smartcourse_lms.auth.tokens import access_tokens_from_settings

    return AuthService(unit_of_work_factory(get_engine), AuthConfig.from_settings(get_settings()),
                       access_tokens=access_tokens_from_settings)


_service: AuthService | None = None


def get_auth_service() -> AuthService:
    """The process-wide service (built on first request, reused by warm invocations)."""
    global _service
    if _service is None:
        _service = auth_service_from_settings()
    return _service
