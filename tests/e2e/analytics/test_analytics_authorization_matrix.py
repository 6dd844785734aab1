"""Who may call which analytics route, over HTTP through the gateway and the platform's authorizer, per role.

Every ``/api/v1`` route of the analytics catalogue has a row (a completeness test fails for a new route without
one). A learner sees only themself, staff only their courses, admins everything; reports are their owner's.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from smartcourse.catalogue import Service

from stacks.services import api_functions
from tests.e2e.analytics.conftest import Cohort
from tests.e2e.support import Account, register

pytestmark = pytest.mark.e2e

ROLES = ("anonymous", "student", "instructor", "owner", "admin")
# instructor: an instructor who is not the course's staff; owner: the course's instructor.
ANY_USER = (401, 200, 200, 200, 200)
STAFF = (401, 403, 403, 200, 200)
ADMIN_ONLY = (401, 403, 403, 403, 200)

C = "/api/v1/analytics/courses/{course_id}"
ROWS: tuple[tuple[str, str, tuple[int, ...], dict | None], ...] = (
    # method, catalogue path, expected per role, body
    ("GET", "/api/v1/analytics/me/progress", ANY_USER, None),
    ("GET", C, STAFF, None),
    ("GET", f"{C}/learners", STAFF, None),
    ("GET", f"{C}/at-risk", STAFF, None),
    ("POST", f"{C}/at-risk/nudge", (401, 403, 403, 202, 202), {"user_ids": [str(uuid.uuid4())], "message": "Hi"}),
    ("GET", "/api/v1/analytics/instructors/me", (401, 403, 200, 200, 200), None),
    ("GET", "/api/v1/analytics/platform", ADMIN_ONLY, None),
    ("POST", "/api/v1/analytics/reports", (401, 403, 403, 202, 202),
     {"type": "course", "course_id": "{course_id}", "format": "csv"}),
    ("GET", "/api/v1/analytics/reports", ANY_USER, None),
    # The owner's report: nobody else's to see, an admin included ("own reports").
    ("GET", "/api/v1/analytics/reports/{report_id}", (401, 404, 404, 200, 404), None),
)


def test_every_analytics_route_has_a_row() -> None:
    routes = {(r.method, r.path) for f in api_functions(Service.ANALYTICS) for r in f.routes
              if r.path.startswith("/api/v1/")}
    assert routes == {(method, path) for method, path, *_ in ROWS}


@pytest.fixture(scope="module")
def callers(http: httpx.Client, admin: Account, cohort: Cohort) -> dict[str, Account | None]:
    return {"anonymous": None, "student": cohort.learners["A"], "instructor": register(http, "instructor"),
            "owner": cohort.course.owner, "admin": admin}


@pytest.fixture(scope="module")
def report_id(analytics: httpx.Client, cohort: Cohort) -> str:
    response = analytics.post("/api/v1/analytics/reports", json={"type": "course", "course_id": cohort.course.id,
                                                                  "format": "csv"},
                              headers=cohort.course.owner.headers)
    assert response.status_code == 202, response.text
    return str(response.json()["report_id"])


def _fill(value: object, ids: dict[str, str]) -> object:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize(("method", "path", "expected", "body"), ROWS, ids=[f"{r[0]} {r[1]}" for r in ROWS])
def test_analytics_route_authorization(analytics: httpx.Client, cohort: Cohort, report_id: str,
                                       callers: dict[str, Account | None], method: str, path: str,
                                       expected: tuple[int, ...], body: dict | None) -> None:
    ids = {"course_id": cohort.course.id, "report_id": report_id}
    url = path.format(**ids)
    got = []
    for role in ROLES:
        who = callers[role]
        response = analytics.request(method, url, json=_fill(body, ids), headers=who.headers if who else {})
        got.append(response.status_code)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/json"), (role, response.text)
    assert tuple(got) == expected, dict(zip(ROLES, got, strict=True))


@pytest.mark.parametrize("path", [C, f"{C}/learners", f"{C}/at-risk"])
def test_an_unknown_course_is_404_for_staff(analytics: httpx.Client, admin: Account, path: str) -> None:
    assert analytics.get(path.format(course_id=uuid.uuid4()), headers=admin.headers).status_code == 404


def test_bad_periods_and_pages_are_422(analytics: httpx.Client, cohort: Cohort) -> None:
    owner = cohort.course.owner.headers
    course = C.format(course_id=cohort.course.id)
    for params in ({"from": "2026-12-05", "to": "2026-12-01"}, {"from": "yesterday"}, {"to": "2026-13-01"}):
        response = analytics.get(course, params=params, headers=owner)
        assert response.status_code == 422, (params, response.text)
        assert all({"loc", "msg", "type"} <= set(e) for e in response.json()["detail"])
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 10**30}, {"limit": "ten"}):
        assert analytics.get(f"{course}/learners", params=params, headers=owner).status_code == 422, params
    bad_bodies = ({"user_ids": [], "message": "hi"}, {"user_ids": [cohort.learners["D"].id], "message": "  "},
                  {"user_ids": [cohort.learners["D"].id], "message": "a\u0000b"}, {"user_ids": ["nope"]},
                  {"user_ids": [cohort.learners["D"].id], "message": "hi", "extra": 1})
    for body in bad_bodies:
        response = analytics.post(f"{course}/at-risk/nudge", json=body, headers=owner)
        assert response.status_code == 422, (body, response.text)
    wrong_type = analytics.post(f"{course}/at-risk/nudge", content=b'{"user_ids": [], "message": "x"}',
                                headers={**owner, "Content-Type": "text/plain"})
    assert wrong_type.status_code in (415, 422), wrong_type.text
    for body in ({"type": "course", "format": "html"}, {"type": "platform", "format": "pdf"},
                 {"type": "course", "course_id": cohort.course.id, "format": "html", "from": "2026-12-05",
                  "to": "2026-12-01"}):
        response = analytics.post("/api/v1/analytics/reports", json=body, headers=owner)
        assert response.status_code == 422, (body, response.text)
