"""Request and response bodies of the Auth and Admin APIs (they also shape the OpenAPI document)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from smartcourse.principal import Role

from smartcourse_lms.auth.domain import (
    EMAIL_MAX_LENGTH,
    FULL_NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    User,
    UserStatus,
    check_password_policy,
    is_plausible_email,
    normalise_email,
)

TOKEN_MAX_LENGTH = 512


def _normalise(value: Any) -> Any:
    return normalise_email(value) if isinstance(value, str) else value


def _email_syntax(value: str) -> str:
    if not is_plausible_email(value):
        raise ValueError("Invalid email address")
    return value


def _password_policy(value: str) -> str:
    check_password_policy(value)
    return value


Email = Annotated[str, BeforeValidator(_normalise), Field(min_length=3, max_length=EMAIL_MAX_LENGTH),
                  AfterValidator(_email_syntax)]
NewPassword = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
                        AfterValidator(_password_policy)]
FullName = Annotated[str, Field(min_length=1, max_length=FULL_NAME_MAX_LENGTH)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=TOKEN_MAX_LENGTH)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class RegisterRequest(_Request):
    email: Email
    password: NewPassword
    full_name: FullName | None = None
    role: Literal["student", "instructor"] = "student"


class LoginRequest(_Request):
    email: Annotated[str, Field(min_length=1, max_length=EMAIL_MAX_LENGTH)]
    # Long enough for any real password, short enough that hashing it cannot be abused.
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class RefreshRequest(_Request):
    refresh_token: OpaqueToken


class LogoutRequest(_Request):
    refresh_token: OpaqueToken


class VerifyEmailRequest(_Request):
    token: OpaqueToken


class ForgotPasswordRequest(_Request):
    email: Email


class ResetPasswordRequest(_Request):
    token: OpaqueToken
    new_password: NewPassword


class UserUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: UserStatus | None = None
    full_name: FullName | None = None


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str | None
    roles: list[Role]
    status: UserStatus
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, full_name=user.full_name, roles=list(user.roles),
                   status=user.status, email_verified=user.email_verified, created_at=user.created_at)


class UserPageOut(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_in: int


class MessageOut(BaseModel):
    detail: str
