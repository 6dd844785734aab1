"""Auth over HTTP through the local API Gateway runner, end to end."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.support import count, login, register, unique_email

pytestmark = pytest.mark.e2e


def test_health_needs_no_auth(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_register_login_me_refresh_logout(http: httpx.Client, db) -> None:
    email = unique_email("journey")
    created = http.post("/api/v1/auth/register",
                        json={"email": f"  {email.upper()} ", "password": "Journey-pass1", "full_name": "Jo Urney"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == email  # normalised: trimmed, lower-case
    assert user["roles"] == ["student"]
    assert user["email_verified"] is False
    assert "password" not in created.text and "hash" not in created.text
    assert count(db, "SELECT count(*) FROM outbox WHERE aggregate_id = %s AND event_type = 'user.registered'",
                 user["id"]) == 1

    form = http.post("/api/v1/auth/login", data={"username": email, "password": "Journey-pass1"})
    assert form.status_code == 200, form.text
    tokens = form.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
    as_json = login(http, email, "Journey-pass1")
    assert as_json["access_token"] != tokens["access_token"]

    me = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("id", "email", "status", "email_verified")} == {
        "id": user["id"], "email": email, "status": "active", "email_verified": False}

    refreshed = http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new_pair = refreshed.json()
    assert new_pair["refresh_token"] != tokens["refresh_token"]

    logout = http.post("/api/v1/auth/logout", json={"refresh_token": new_pair["refresh_token"]},
                       headers={"Authorization": f"Bearer {new_pair['access_token']}"})
    assert logout.status_code == 204
    after_logout = http.post("/api/v1/auth/refresh", json={"refresh_token": new_pair["refresh_token"]})
    assert after_logout.status_code == 401


def test_refresh_token_reuse_revokes_the_family(http: httpx.Client) -> None:
    account = register(http)
    first = http.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh})
    assert first.status_code == 200
    second_token = first.json()["refresh_token"]
    reuse = http.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh})
    assert reuse.status_code == 401
    # The reuse revoked the whole family, including the token issued by the legitimate rotation.
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": second_token}).status_code == 401


def test_me_requires_a_valid_token(http: httpx.Client) -> None:
    assert http.get("/api/v1/auth/me").status_code == 401
    assert http.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    response = http.get("/api/v1/auth/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert response.status_code == 401
    assert "detail" in response.json()


def test_duplicate_email_is_409_case_insensitively(http: httpx.Client, db) -> None:
    account = register(http)
    before = count(db, "SELECT count(*) FROM users")
    again = http.post("/api/v1/auth/register", json={"email": account.email.upper(), "password": "Another-pass1"})
    assert again.status_code == 409
    assert count(db, "SELECT count(*) FROM users") == before


def test_register_never_grants_admin(http: httpx.Client, db) -> None:
    before = count(db, "SELECT count(*) FROM users")
    response = http.post("/api/v1/auth/register",
                         json={"email": unique_email(), "password": "Admin-wannabe1", "role": "admin"})
    assert response.status_code == 422
    assert count(db, "SELECT count(*) FROM users") == before


def test_wrong_credentials_get_one_generic_message(http: httpx.Client) -> None:
    account = register(http)
    wrong_password = http.post("/api/v1/auth/login", json={"email": account.email, "password": "Wrong-pass-1"})
    unknown_user = http.post("/api/v1/auth/login", json={"email": unique_email(), "password": "Wrong-pass-1"})
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json()


def test_repeated_failures_are_throttled(http: httpx.Client) -> None:
    account = register(http)
    statuses = [http.post("/api/v1/auth/login", json={"email": account.email, "password": "Nope-nope-1"}).status_code
                for _ in range(5)]
    assert statuses == [401] * 5
    throttled = http.post("/api/v1/auth/login", json={"email": account.email, "password": account.password})
    assert throttled.status_code == 429
    assert "detail" in throttled.json()


def test_blocked_user_cannot_login_or_refresh(http: httpx.Client, admin) -> None:
    account = register(http)
    blocked = http.patch(f"/api/v1/admin/users/{account.id}", json={"status": "blocked"}, headers=admin.headers)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["status"] == "blocked"
    # The authorizer re-checks the user's status: an access token not cached yet is refused at once.
    denied = http.get("/api/v1/auth/me", headers=account.headers)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Forbidden"}
    assert http.post("/api/v1/auth/login",
                     json={"email": account.email, "password": account.password}).status_code == 403
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}).status_code == 401
    unblocked = http.patch(f"/api/v1/admin/users/{account.id}", json={"status": "active"}, headers=admin.headers)
    assert unblocked.status_code == 200
    assert http.post("/api/v1/auth/login",
                     json={"email": account.email, "password": account.password}).status_code == 200
