"""Access tokens: short-lived HS256 JWTs. The key is a Secrets Manager secret (``JWT_SECRET_ARN``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash output


class InvalidAccessToken(Exception):
    """Missing, malformed, badly signed, expired or foreign token (the reason stays in logs)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    roles: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    token_id: str
    issuer: str


class AccessTokens:
    def __init__(self, key: str | Callable[[], str], issuer: str, ttl_seconds: int) -> None:
        self._key = key
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def _signing_key(self) -> str:
        key = self._key() if callable(self._key) else self._key
        if len(key.encode()) < MIN_KEY_BYTES:
            raise RuntimeError("JWT signing key is too short")
        return key

    def issue(self, user_id: uuid.UUID, roles: Sequence[str], now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "roles": list(roles),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_seconds)).timestamp()),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
        }
        return jwt.encode(claims, self._signing_key(), algorithm=ALGORITHM)

    def verify(self, token: str, now: datetime | None = None) -> AccessClaims:
        options = {"require": ["sub", "iat", "exp", "jti", "iss"]}
        try:
            if now is None:
                claims = jwt.decode(token, self._signing_key(), algorithms=[ALGORITHM], issuer=self.issuer,
                                    options=options)  # type: ignore[arg-type]
            else:
                # An explicit clock (tests): check expiry ourselves against it.
                claims = jwt.decode(token, self._signing_key(), algorithms=[ALGORITHM], issuer=self.issuer,
                                    options={**options, "verify_exp": False, "verify_iat": False})  # type: ignore[arg-type]
                if int(claims["exp"]) <= int(now.timestamp()):
                    raise jwt.ExpiredSignatureError("Signature has expired")
            user_id = uuid.UUID(str(claims["sub"]))
            roles = claims.get("roles") or []
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise InvalidAccessToken("roles claim is not a list of strings")
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise InvalidAccessToken(str(exc)) from exc
        return AccessClaims(
            user_id=user_id,
            roles=tuple(roles),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            token_id=str(claims["jti"]),
            issuer=str(claims["iss"]),
        )


def key_from_secret_string(value: str) -> str:
    """The secret may hold the bare key or a JSON object with a ``key`` field (CDK-generated secrets)."""
    stripped = value.strip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        for name in ("key", "secret", "signing_key"):
            if isinstance(data.get(name), str):
                return str(data[name])
        raise RuntimeError("JWT secret JSON has no 'key' field")
    return value


def access_tokens_from_settings() -> AccessTokens:
    from smartcourse.secrets import get_secret_string
    from smartcourse.settings import get_settings

    settings = get_settings()
    arn = settings.jwt_secret_arn
    if not arn:
        raise RuntimeError("JWT_SECRET_ARN is not set")
    return AccessTokens(lambda: key_from_secret_string(get_secret_string(arn)), settings.jwt_issuer,
                        settings.access_token_ttl_seconds)
