"""Every admin route for every role: admin allowed, instructor and student 403, anonymous 401."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.support import Account, register

pytestmark = pytest.mark.e2e


def _routes(target: str) -> list[tuple[str, str, dict | None, int]]:
    # (method, path, body, status an admin gets)
    return [
        ("GET", "/api/v1/admin/users", None, 200),
        ("PATCH", f"/api/v1/admin/users/{target}", {"full_name": "Renamed by admin"}, 200),
        ("POST", f"/api/v1/admin/users/{target}/roles/instructor", None, 200),
        ("DELETE", f"/api/v1/admin/users/{target}/roles/instructor", None, 200),
    ]


@pytest.fixture(scope="module")
def target(http: httpx.Client) -> Account:
    return register(http)


@pytest.mark.parametrize("role", ["admin", "instructor", "student", "anonymous"])
@pytest.mark.parametrize("route_index", range(4))
def test_admin_route_authorization(http: httpx.Client, admin: Account, target: Account, role: str,
                                   route_index: int) -> None:
    method, path, body, admin_status = _routes(target.id)[route_index]
    if role == "admin":
        headers, expected = admin.headers, admin_status
    elif role == "anonymous":
        headers, expected = {}, 401
    else:
        headers, expected = register(http, role).headers, 403
    response = http.request(method, path, json=body, headers=headers)
    assert response.status_code == expected, response.text
    assert response.headers["content-type"].startswith("application/json")


def test_list_users_filters_and_pages(http: httpx.Client, admin: Account) -> None:
    teacher = register(http, "instructor")
    page = http.get("/api/v1/admin/users", params={"role": "instructor", "q": teacher.email, "limit": 5},
                    headers=admin.headers).json()
    assert page["total"] == 1 and page["limit"] == 5 and page["offset"] == 0
    assert page["items"][0]["email"] == teacher.email
    everyone = http.get("/api/v1/admin/users", params={"limit": 2, "offset": 1}, headers=admin.headers).json()
    assert len(everyone["items"]) == 2 and everyone["total"] >= 3
    assert http.get("/api/v1/admin/users", params={"limit": 101}, headers=admin.headers).status_code == 422


def test_role_grants_are_idempotent_and_take_effect(http: httpx.Client, admin: Account) -> None:
    student = register(http)
    for _ in range(2):
        granted = http.post(f"/api/v1/admin/users/{student.id}/roles/instructor", headers=admin.headers)
        assert granted.status_code == 200
        assert sorted(granted.json()["roles"]) == ["instructor", "student"]
    for _ in range(2):
        revoked = http.delete(f"/api/v1/admin/users/{student.id}/roles/instructor", headers=admin.headers)
        assert revoked.status_code == 200
        assert revoked.json()["roles"] == ["student"]
    unknown_role = http.post(f"/api/v1/admin/users/{student.id}/roles/superuser", headers=admin.headers)
    assert unknown_role.status_code == 422
    unknown_user = http.post("/api/v1/admin/users/00000000-0000-0000-0000-000000000000/roles/instructor",
                             headers=admin.headers)
    assert unknown_user.status_code == 404


def test_admin_cannot_remove_own_admin_role(http: httpx.Client, admin: Account) -> None:
    response = http.delete(f"/api/v1/admin/users/{admin.id}/roles/admin", headers=admin.headers)
    assert response.status_code == 409
    me = http.get("/api/v1/auth/me", headers=admin.headers).json()
    assert "admin" in me["roles"]
