"""Bad input gets a clear 4xx and writes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.support import count, unique_email

pytestmark = pytest.mark.e2e

REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b"{not json", "application/json", 400),
        (b'{"email": 42, "password": ["x"]}', "application/json", 422),
        (b'{"email": "not-an-email", "password": "Valid-pass-1"}', "application/json", 422),
        (b'{"email": "a@b.co", "password": "12345678"}', "application/json", 422),
        (b'{"email": "a@b.co", "password": "short"}', "application/json", 422),
        (b'{"email": "a@b.co", "password": "' + b"x" * 129 + b'"}', "application/json", 422),
        (b'{"email": "a@b.co", "password": "Valid-pass-1", "full_name": "' + b"n" * 300 + b'"}',
         "application/json", 422),
        (b"[]", "application/json", 422),
        (b"", "application/json", 422),
    ],
)
def test_bad_registration_is_rejected_and_writes_nothing(http: httpx.Client, db, content: bytes,
                                                         content_type: str, expected: int) -> None:
    users, events = count(db, "SELECT count(*) FROM users"), count(db, "SELECT count(*) FROM outbox")
    response = http.post(REGISTER, content=content, headers={"Content-Type": content_type})
    assert response.status_code == expected, response.text
    detail = response.json()["detail"]
    assert detail
    if expected == 422:
        assert all({"loc", "msg", "type"} <= set(entry) for entry in detail)
    assert "Traceback" not in response.text
    assert count(db, "SELECT count(*) FROM users") == users
    assert count(db, "SELECT count(*) FROM outbox") == events


def test_oversized_body_is_413_and_writes_nothing(http: httpx.Client, db) -> None:
    users = count(db, "SELECT count(*) FROM users")
    huge = b'{"email": "' + unique_email().encode() + b'", "password": "Valid-pass-1", "x": "' + b"a" * (
        7 * 1024 * 1024) + b'"}'
    response = http.post(REGISTER, content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert count(db, "SELECT count(*) FROM users") == users


def test_login_with_bad_body_is_4xx(http: httpx.Client) -> None:
    assert http.post("/api/v1/auth/login", content=b"{oops", headers={"Content-Type": "application/json"}
                     ).status_code == 400
    assert http.post("/api/v1/auth/login", json={"email": "x@y.co"}).status_code == 422
    assert http.post("/api/v1/auth/login", data={"username": "x@y.co"}).status_code == 422


def test_unknown_route_is_404_json(http: httpx.Client) -> None:
    response = http.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": "Not Found"}
    # A known path with a method it does not serve is unknown to API Gateway too.
    assert http.delete("/api/v1/auth/me").status_code == 404
