"""Access-token claims, expiry and issuer checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from smartcourse_lms.auth.tokens import AccessTokens, InvalidAccessToken, key_from_secret_string

KEY = "unit-test-signing-key-0123456789abcdefgh"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_claims() -> None:
    tokens = AccessTokens(KEY, "smartcourse", 900)
    user_id = uuid.uuid4()
    token = tokens.issue(user_id, ["student", "instructor"], NOW)
    claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False}, issuer="smartcourse")
    assert set(claims) == {"sub", "roles", "iat", "exp", "jti", "iss"}
    assert claims["sub"] == str(user_id) and claims["exp"] - claims["iat"] == 900
    verified = tokens.verify(token, NOW + timedelta(minutes=14))
    assert verified.user_id == user_id and verified.roles == ("student", "instructor")
    assert tokens.issue(user_id, [], NOW) != tokens.issue(user_id, [], NOW)  # unique jti


def test_expired_tokens_are_refused() -> None:
    tokens = AccessTokens(KEY, "smartcourse", 900)
    token = tokens.issue(uuid.uuid4(), ["student"], NOW)
    with pytest.raises(InvalidAccessToken):
        tokens.verify(token, NOW + timedelta(seconds=900))
    with pytest.raises(InvalidAccessToken):
        tokens.verify(token)  # real clock: long past


def test_foreign_issuer_key_or_algorithm_is_refused() -> None:
    mine = AccessTokens(KEY, "smartcourse", 900)
    token = AccessTokens(KEY, "someone-else", 900).issue(uuid.uuid4(), [], NOW)
    with pytest.raises(InvalidAccessToken):
        mine.verify(token, NOW)
    other_key = AccessTokens("another-signing-key-0123456789abcdefgh", "smartcourse", 900).issue(uuid.uuid4(), [],
                                                                                              NOW)
    with pytest.raises(InvalidAccessToken):
        mine.verify(other_key, NOW)
    unsigned = jwt.encode({"sub": str(uuid.uuid4()), "iss": "smartcourse", "iat": 1, "exp": 2**40, "jti": "x"},
                          "", algorithm="none")
    with pytest.raises(InvalidAccessToken):
        mine.verify(unsigned, NOW)
    with pytest.raises(InvalidAccessToken):
        mine.verify("garbage", NOW)


def test_short_keys_are_refused() -> None:
    with pytest.raises(RuntimeError):
        AccessTokens("short", "smartcourse", 900).issue(uuid.uuid4(), [], NOW)


def test_secret_may_be_bare_or_json() -> None:
    assert key_from_secret_string(KEY) == KEY
    assert key_from_secret_string(f'{{"key": "{KEY}"}}') == KEY
