"""Email verification and password reset, with tokens obtained the way the notification service will.

Events carry only a token reference; the clear token is minted by the
internal ``lms-auth-issue-one-time-token`` function, invoked through the runner.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.support import count, register, unique_email

pytestmark = pytest.mark.e2e


def _event_payload(db, user_id: str, event_type: str) -> dict:
    row = db.execute("SELECT envelope FROM outbox WHERE aggregate_id = %s AND event_type = %s ORDER BY id DESC",
                     (user_id, event_type)).fetchone()
    assert row is not None, f"no {event_type} event for {user_id}"
    return row[0]["payload"]


def _mint(cloud, purpose: str, ref: str) -> str:
    result = cloud.runner.invoke("lms-auth-issue-one-time-token", {"purpose": purpose, "token_ref": ref})
    assert "token" in result, result
    return str(result["token"])


def test_verify_email_with_the_token_behind_the_event(http: httpx.Client, db, cloud) -> None:
    account = register(http)
    payload = _event_payload(db, account.id, "user.registered")
    assert set(payload) >= {"user_id", "email", "roles", "verification_token_ref"}
    assert "token" not in {k for k in payload if not k.endswith("_ref")}
    token = _mint(cloud, "email_verification", payload["verification_token_ref"])

    verified = http.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["email_verified"] is True
    assert http.get("/api/v1/auth/me", headers=account.headers).json()["email_verified"] is True
    assert count(db, "SELECT count(*) FROM outbox WHERE aggregate_id = %s AND event_type = 'user.email_verified'",
                 account.id) == 1
    # Single use.
    assert http.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 400
    assert http.post("/api/v1/auth/verify-email", json={"token": "made-up"}).status_code == 400


def test_forgot_and_reset_password(http: httpx.Client, db, cloud) -> None:
    account = register(http)
    unknown = http.post("/api/v1/auth/password/forgot", json={"email": unique_email()})
    known = http.post("/api/v1/auth/password/forgot", json={"email": account.email})
    assert unknown.status_code == known.status_code == 202  # no account enumeration
    assert unknown.json() == known.json()

    payload = _event_payload(db, account.id, "user.password_reset_requested")
    token = _mint(cloud, "password_reset", payload["reset_token_ref"])
    weak = http.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "12345678"})
    assert weak.status_code == 422
    reset = http.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "Brand-new-pass-2"})
    assert reset.status_code == 204, reset.text
    # Every refresh token is revoked, the old password is dead, the new one works, the token is spent.
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}).status_code == 401
    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": account.password}
                     ).status_code == 401
    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": "Brand-new-pass-2"}
                     ).status_code == 200
    again = http.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "Another-pass-3"})
    assert again.status_code == 400
