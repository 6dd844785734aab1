"""Who may call which AI route, over HTTP through the gateway and the platform's authorizer, per role.

Every ``/api/v1`` route of the AI catalogue has a row (a completeness test fails for a new route without one).
"""

from __future__ import annotations

import httpx
import pytest
from smartcourse.catalogue import Service

from stacks.services import api_functions
from tests.e2e.ai.conftest import LiveCourse, publish_course, wait_until_indexed
from tests.e2e.support import Account, register
from tests.support.ai import document, heading, paragraph

pytestmark = pytest.mark.e2e

ROLES = ("anonymous", "student", "instructor", "owner", "admin")
# instructor: an instructor who is not the course's staff; owner: the course's instructor.
ANY_USER = (401, 200, 200, 200, 200)
STAFF = (401, 403, 403, 200, 200)
ADMIN_ONLY = (401, 403, 403, 403, 200)

C = "/api/v1/ai/courses/{course_id}"
ROWS: tuple[tuple[str, str, tuple[int, ...], dict | None, dict | None], ...] = (
    # method, catalogue path, expected per role, body, query
    ("POST", "/api/v1/search", ANY_USER, {"query": "cookies and sessions"}, None),
    ("POST", "/api/v1/content/search", ANY_USER, {"query": "cookies and sessions"}, None),
    ("POST", "/api/v1/rag/ask", ANY_USER, {"question": "how should a session cookie be protected"}, None),
    ("POST", "/api/v1/rag/ask/stream", ANY_USER, {"question": "how should a session cookie be protected"}, None),
    ("POST", f"{C}/quiz", STAFF, {"num_questions": 2}, None),
    ("GET", f"{C}/summary", ANY_USER, None, None),
    ("GET", "/api/v1/ai/recommendations/me", ANY_USER, None, None),
    ("GET", f"{C}/processing-status", STAFF, None, None),
    ("POST", "/api/v1/content/generate-embeddings", (401, 403, 403, 403, 202), None, {"course_id": "{course_id}"}),
    ("GET", f"{C}/settings", STAFF, None, None),
    ("PUT", f"{C}/settings", STAFF, {"chat": True, "quiz": True, "summary": True}, None),
    ("PATCH", f"{C}/settings", STAFF, {"quiz": True}, None),
    ("GET", f"{C}/content-gaps", STAFF, None, None),
    ("GET", "/api/v1/ai/usage/me", ANY_USER, None, None),
    ("GET", "/api/v1/ai/usage", ADMIN_ONLY, None, None),
)


def test_every_ai_route_has_a_row() -> None:
    routes = {(r.method, r.path) for f in api_functions(Service.AI) for r in f.routes
              if r.path.startswith("/api/v1/")}
    assert routes == {(method, path) for method, path, *_ in ROWS}


@pytest.fixture(scope="module")
def matrix_course(http: httpx.Client, ai: httpx.Client) -> LiveCourse:
    owner = register(http, "instructor")
    course = publish_course(http, owner, {"title": "Cookies and sessions", "modules": [{"title": "Sessions", "assets": [
        {"title": "Session cookies", "asset_type": "article", "document": document(
            heading("Protecting the session cookie"),
            paragraph("Mark the session cookie HttpOnly so scripts cannot read it, Secure so it only travels over "
                      "HTTPS, and SameSite so other sites cannot send it along with forged requests. " * 3),
            heading("Expiry"),
            paragraph("Sessions should expire after a period of inactivity and when the user signs out. " * 3))},
    ]}]})
    wait_until_indexed(ai, course)
    return course


@pytest.fixture(scope="module")
def callers(http: httpx.Client, admin: Account, matrix_course: LiveCourse) -> dict[str, Account | None]:
    return {"anonymous": None, "student": register(http, "student"), "instructor": register(http, "instructor"),
            "owner": matrix_course.owner, "admin": admin}


@pytest.mark.parametrize(("method", "path", "expected", "body", "query"), ROWS, ids=[f"{r[0]} {r[1]}" for r in ROWS])
def test_ai_route_authorization(ai: httpx.Client, matrix_course: LiveCourse, callers: dict[str, Account | None],
                                method: str, path: str, expected: tuple[int, ...], body: dict | None,
                                query: dict | None) -> None:
    url = path.format(course_id=matrix_course.id)
    params = {k: v.format(course_id=matrix_course.id) for k, v in (query or {}).items()}
    got = []
    for role in ROLES:
        who = callers[role]
        response = ai.request(method, url, json=body, params=params, headers=who.headers if who else {})
        got.append(response.status_code)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/json"), (role, response.text)
    assert tuple(got) == expected, dict(zip(ROLES, got, strict=True))
