"""One authorization matrix over HTTP for every LMS route: who gets which status, per role.

Each row names a route exactly as the catalogue spells it (method + path template) and the concrete request to send;
a completeness test makes sure every ``/api/v1`` route of the LMS catalogue has at least one row, so a new route
without a row fails the suite. Reads run against one shared world; rows that change what they touch (deletes,
lifecycle, enrollments, token rotation) get fresh resources for every call.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from smartcourse.catalogue import Service

from stacks.services import api_functions
from tests.e2e.lms.test_courses_authz import add_asset
from tests.e2e.support import Account, login, register, unique_email

pytestmark = pytest.mark.e2e

ROLES = ("anonymous", "student", "enrolled", "instructor", "other", "admin")
# student: not enrolled anywhere; enrolled: owner of the enrollment {E} in {P}; instructor: owner of every course
# here; other: another instructor.

ANYONE = (200, 200, 200, 200, 200, 200)
ANY_USER = (401, 200, 200, 200, 200, 200)
ADMIN_ONLY = (401, 403, 403, 403, 403, 200)
STAFF_ON_PUBLISHED = (401, 403, 403, 200, 403, 200)
STAFF_ON_DRAFT = (401, 404, 404, 200, 404, 200)  # a draft stays invisible to all but its staff
READ_DRAFT = (404, 404, 404, 200, 404, 200)
LEARNER_OR_STAFF = (401, 404, 200, 200, 404, 200)  # the enrollment's owner and the course staff


@dataclass(frozen=True)
class Row:
    method: str
    route: str  # the catalogue's path template
    path: str  # what is requested: {KEY} is filled from the world (see build_world) or the fresh resources
    expected: tuple[int, int, int, int, int, int]  # per ROLES
    body: dict[str, Any] | None = None
    fresh: str | None = None  # "published", "draft" or "enrollment": a resource of its own for every call


ROWS: tuple[Row, ...] = (
    # Auth: anyone, except me/logout which need a user.
    Row("POST", "/api/v1/auth/register", "/api/v1/auth/register", (201,) * 6,
        {"email": "{EMAIL}", "password": "Str0ng-pass", "full_name": "Matrix"}),
    Row("POST", "/api/v1/auth/login", "/api/v1/auth/login", ANYONE, {"email": "{LOGIN}", "password": "{PASSWORD}"}),
    Row("POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", ANYONE, {"refresh_token": "{REFRESH}"}),
    Row("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", (401, 204, 204, 204, 204, 204),
        {"refresh_token": "{REFRESH}"}),
    Row("GET", "/api/v1/auth/me", "/api/v1/auth/me", ANY_USER),
    # A made-up token: everyone reaches the handler and gets its 400 (no 401/403).
    Row("POST", "/api/v1/auth/verify-email", "/api/v1/auth/verify-email", (400,) * 6, {"token": "not-a-real-token"}),
    Row("POST", "/api/v1/auth/password/forgot", "/api/v1/auth/password/forgot", (202,) * 6, {"email": "{LOGIN}"}),
    Row("POST", "/api/v1/auth/password/reset", "/api/v1/auth/password/reset", (400,) * 6,
        {"token": "not-a-real-token", "new_password": "An0ther-pass"}),
    # Admin: admin only.
    Row("GET", "/api/v1/admin/users", "/api/v1/admin/users", ADMIN_ONLY),
    Row("PATCH", "/api/v1/admin/users/{user_id}", "/api/v1/admin/users/{T}", ADMIN_ONLY, {"full_name": "Renamed"}),
    Row("POST", "/api/v1/admin/users/{user_id}/roles/{role}", "/api/v1/admin/users/{T}/roles/instructor", ADMIN_ONLY),
    Row("DELETE", "/api/v1/admin/users/{user_id}/roles/{role}", "/api/v1/admin/users/{T}/roles/instructor",
        ADMIN_ONLY),
    # Courses.
    Row("POST", "/api/v1/courses", "/api/v1/courses", (401, 403, 403, 201, 201, 201), {"title": "Matrix course"}),
    Row("GET", "/api/v1/courses", "/api/v1/courses", ANYONE),
    Row("GET", "/api/v1/courses/{course_id}", "/api/v1/courses/{P}", ANYONE),
    Row("GET", "/api/v1/courses/{course_id}", "/api/v1/courses/{D}", READ_DRAFT),
    Row("PUT", "/api/v1/courses/{course_id}", "/api/v1/courses/{D}", STAFF_ON_DRAFT, {"description": "changed"}),
    Row("PATCH", "/api/v1/courses/{course_id}", "/api/v1/courses/{P}", STAFF_ON_PUBLISHED, {"description": "changed"}),
    Row("DELETE", "/api/v1/courses/{course_id}", "/api/v1/courses/{F}", (401, 403, 403, 204, 403, 204),
        fresh="published"),
    Row("POST", "/api/v1/courses/{course_id}/publish", "/api/v1/courses/{F}/publish", STAFF_ON_DRAFT, fresh="draft"),
    Row("POST", "/api/v1/courses/{course_id}/archive", "/api/v1/courses/{F}/archive", STAFF_ON_PUBLISHED,
        fresh="published"),
    Row("GET", "/api/v1/courses/{course_id}/prerequisites", "/api/v1/courses/{P}/prerequisites", ANYONE),
    Row("GET", "/api/v1/courses/{course_id}/prerequisites", "/api/v1/courses/{D}/prerequisites", READ_DRAFT),
    Row("POST", "/api/v1/courses/{course_id}/prerequisites/{prerequisite_id}", "/api/v1/courses/{Q}/prerequisites/{P}",
        (401, 403, 403, 204, 403, 204)),
    Row("DELETE", "/api/v1/courses/{course_id}/prerequisites/{prerequisite_id}",
        "/api/v1/courses/{Q}/prerequisites/{P}", (401, 403, 403, 204, 403, 204)),
    # Modules.
    Row("POST", "/api/v1/modules", "/api/v1/modules", (401, 404, 404, 201, 404, 201),
        {"course_id": "{D}", "title": "Extra"}),
    Row("GET", "/api/v1/modules/by-course/{course_id}", "/api/v1/modules/by-course/{P}", ANYONE),
    Row("GET", "/api/v1/modules/by-course/{course_id}", "/api/v1/modules/by-course/{D}", READ_DRAFT),
    Row("GET", "/api/v1/modules/{module_id}", "/api/v1/modules/{PM}", ANYONE),
    Row("GET", "/api/v1/modules/{module_id}", "/api/v1/modules/{DM}", READ_DRAFT),
    Row("PUT", "/api/v1/modules/{module_id}", "/api/v1/modules/{DM}", STAFF_ON_DRAFT, {"title": "Renamed"}),
    Row("PATCH", "/api/v1/modules/{module_id}", "/api/v1/modules/{PM}", STAFF_ON_PUBLISHED, {"title": "Renamed"}),
    Row("DELETE", "/api/v1/modules/{module_id}", "/api/v1/modules/{FM}", (401, 403, 403, 204, 403, 204),
        fresh="published"),
    # Learning assets: {PA}/{DA} ready videos, {PX} an article without content.
    Row("POST", "/api/v1/assets", "/api/v1/assets", (401, 404, 404, 201, 404, 201),
        {"module_id": "{DM}", "title": "Extra", "asset_type": "link", "source_url": "https://links.example.test/x"}),
    Row("GET", "/api/v1/assets/by-module/{module_id}", "/api/v1/assets/by-module/{PM}", ANYONE),
    Row("GET", "/api/v1/assets/by-module/{module_id}", "/api/v1/assets/by-module/{DM}", READ_DRAFT),
    Row("GET", "/api/v1/assets/{asset_id}", "/api/v1/assets/{PA}", ANYONE),
    Row("GET", "/api/v1/assets/{asset_id}", "/api/v1/assets/{DA}", READ_DRAFT),
    Row("PUT", "/api/v1/assets/{asset_id}", "/api/v1/assets/{DA}", STAFF_ON_DRAFT, {"title": "Renamed"}),
    Row("PATCH", "/api/v1/assets/{asset_id}", "/api/v1/assets/{PA}", STAFF_ON_PUBLISHED, {"title": "Renamed"}),
    Row("DELETE", "/api/v1/assets/{asset_id}", "/api/v1/assets/{FA}", (401, 403, 403, 204, 403, 204),
        fresh="published"),
    Row("POST", "/api/v1/assets/{asset_id}/content/upload-url", "/api/v1/assets/{PX}/content/upload-url",
        STAFF_ON_PUBLISHED, {"content_type": "application/json", "size_bytes": 500}),
    # Nothing was uploaded: staff get the 404 of the missing object, the others never reach S3.
    Row("POST", "/api/v1/assets/{asset_id}/content/complete", "/api/v1/assets/{PX}/content/complete",
        (401, 403, 403, 404, 403, 404)),
    Row("GET", "/api/v1/assets/{asset_id}/content", "/api/v1/assets/{PA}/content", (401, 403, 200, 200, 403, 200)),
    Row("GET", "/api/v1/assets/{asset_id}/content", "/api/v1/assets/{DA}/content", (401, 404, 404, 200, 404, 200)),
    # Enrollments: {E} is the enrolled student's (completed) enrollment in {P}.
    Row("POST", "/api/v1/enrollments", "/api/v1/enrollments", (401, 201, 201, 201, 201, 201),
        {"course_id": "{F}"}, fresh="published"),
    Row("GET", "/api/v1/enrollments/me", "/api/v1/enrollments/me", ANY_USER),
    Row("GET", "/api/v1/enrollments/{enrollment_id}", "/api/v1/enrollments/{E}", LEARNER_OR_STAFF),
    Row("GET", "/api/v1/enrollments/user/{user_id}", "/api/v1/enrollments/user/{U}", (401, 403, 200, 403, 403, 200)),
    Row("GET", "/api/v1/enrollments/course/{course_id}", "/api/v1/enrollments/course/{P}", STAFF_ON_PUBLISHED),
    Row("PUT", "/api/v1/enrollments/{enrollment_id}", "/api/v1/enrollments/{E}", (401, 404, 403, 403, 404, 200),
        {"status": "completed"}),
    Row("PATCH", "/api/v1/enrollments/{enrollment_id}", "/api/v1/enrollments/{E}", (401, 404, 403, 403, 404, 200),
        {"status": "completed"}),
    Row("DELETE", "/api/v1/enrollments/{enrollment_id}", "/api/v1/enrollments/{FE}", (401, 403, 403, 403, 403, 204),
        fresh="enrollment"),
    # Progress.
    Row("POST", "/api/v1/progress/assets/{asset_id}", "/api/v1/progress/assets/{PA}", (401, 403, 200, 403, 403, 200),
        {"enrollment_id": "{E}", "progress_percent": 100}),
    Row("GET", "/api/v1/progress/assets/{asset_id}/enrollment/{enrollment_id}",
        "/api/v1/progress/assets/{PA}/enrollment/{E}", LEARNER_OR_STAFF),
    Row("GET", "/api/v1/progress/courses/{course_id}/enrollment/{enrollment_id}",
        "/api/v1/progress/courses/{P}/enrollment/{E}", LEARNER_OR_STAFF),
    # Certificates: {C} was issued for {E}, serial {S}.
    Row("GET", "/api/v1/certificates/me", "/api/v1/certificates/me", ANY_USER),
    Row("GET", "/api/v1/certificates/{certificate_id}", "/api/v1/certificates/{C}", LEARNER_OR_STAFF),
    Row("GET", "/api/v1/certificates/verify/{serial_no}", "/api/v1/certificates/verify/{S}", ANYONE),
    # Notifications: a user's own feed and preferences; someone else's (here: a made-up) notification is a 404
    # for everyone, admins included; templates are admin only.
    Row("GET", "/api/v1/notifications/me", "/api/v1/notifications/me", ANY_USER),
    Row("POST", "/api/v1/notifications/{notification_id}/read", f"/api/v1/notifications/{uuid.uuid4()}/read",
        (401, 404, 404, 404, 404, 404)),
    Row("GET", "/api/v1/notifications/preferences", "/api/v1/notifications/preferences", ANY_USER),
    Row("PUT", "/api/v1/notifications/preferences", "/api/v1/notifications/preferences", ANY_USER,
        {"categories": {"marketing": False}}),
    Row("GET", "/api/v1/notifications/templates", "/api/v1/notifications/templates", ADMIN_ONLY),
    Row("POST", "/api/v1/notifications/templates/{name}/preview",
        "/api/v1/notifications/templates/course_completed/preview", ADMIN_ONLY, {}),
)


def _course(http: httpx.Client, db: psycopg.Connection, owner: Account, key: str, world: dict[str, str],
            publish: bool) -> None:
    """Course {key} of ``owner`` with module {key}M holding a ready video {key}A; published if asked."""
    course = http.post("/api/v1/courses", json={"title": f"Matrix {key} {uuid.uuid4().hex[:6]}"},
                       headers=owner.headers)
    assert course.status_code == 201, course.text
    world[key] = course.json()["id"]
    module = http.post("/api/v1/modules", json={"course_id": world[key], "title": "M"}, headers=owner.headers)
    assert module.status_code == 201, module.text
    world[f"{key}M"] = module.json()["id"]
    world[f"{key}A"] = add_asset(db, world[f"{key}M"])
    if publish:
        published = http.post(f"/api/v1/courses/{world[key]}/publish", headers=owner.headers)
        assert published.status_code == 200, published.text


@pytest.fixture(scope="module")
def people(http: httpx.Client, admin: Account) -> dict[str, Account | None]:
    return {"anonymous": None, "student": register(http, "student"), "enrolled": register(http, "student"),
            "instructor": register(http, "instructor"), "other": register(http, "instructor"), "admin": admin}


@pytest.fixture(scope="module")
def world(http: httpx.Client, db: psycopg.Connection, people: dict[str, Account | None]) -> dict[str, str]:
    """Published courses P and Q, a draft D (each with a module and a ready video) of the instructor; the enrolled
    student's enrollment E in P, completed with certificate C (serial S); then an article PX without content in P;
    a spare user T for the admin routes."""
    owner, learner, student = people["instructor"], people["enrolled"], people["student"]
    assert owner is not None and learner is not None and student is not None
    built: dict[str, str] = {}
    _course(http, db, owner, "P", built, publish=True)
    _course(http, db, owner, "Q", built, publish=True)
    _course(http, db, owner, "D", built, publish=False)
    enrolled = http.post("/api/v1/enrollments", json={"course_id": built["P"]}, headers=learner.headers)
    assert enrolled.status_code == 201, enrolled.text
    built["E"], built["U"] = enrolled.json()["id"], learner.id
    done = http.post(f"/api/v1/progress/assets/{built['PA']}", json={"is_completed": True}, headers=learner.headers)
    assert done.status_code == 200, done.text
    built["C"] = done.json()["certificate_id"]
    certificate = http.get(f"/api/v1/certificates/{built['C']}", headers=learner.headers)
    assert certificate.status_code == 200, certificate.text
    built["S"] = certificate.json()["serial_no"]
    built["PX"] = add_asset(db, built["PM"], "article")  # after the completion, so it does not reopen it
    built["T"] = register(http).id
    built["LOGIN"], built["PASSWORD"] = student.email, student.password
    return built


def _fresh(http: httpx.Client, db: psycopg.Connection, people: dict[str, Account | None], kind: str
           ) -> dict[str, str]:
    owner, learner = people["instructor"], people["enrolled"]
    assert owner is not None and learner is not None
    built: dict[str, str] = {}
    _course(http, db, owner, "F", built, publish=kind != "draft")
    if kind == "enrollment":
        enrolled = http.post("/api/v1/enrollments", json={"course_id": built["F"]}, headers=learner.headers)
        assert enrolled.status_code == 201, enrolled.text
        built["FE"] = enrolled.json()["id"]
    return built


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{([A-Z]+)\}", lambda m: values[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _catalogue_routes() -> set[tuple[str, str]]:
    return {(route.method, route.path) for function in api_functions(Service.LMS) for route in function.routes
            if route.path.startswith("/api/v1")}


def test_every_lms_route_has_a_row() -> None:
    assert {(row.method, row.route) for row in ROWS} == _catalogue_routes()
    for row in ROWS:  # the request really goes to the route it is filed under
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(row.route))
        assert re.fullmatch(pattern, re.sub(r"\{[A-Z]+\}", "x", row.path)), row


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=[f"{r.method} {r.path}" for r in ROWS])
def test_lms_route_authorization(http: httpx.Client, db: psycopg.Connection, people: dict[str, Account | None],
                                 world: dict[str, str], row: Row, role: str) -> None:
    values = dict(world)
    if row.fresh:
        values.update(_fresh(http, db, people, row.fresh))
    if "{EMAIL}" in str(row.body):
        values["EMAIL"] = unique_email("matrix")
    if "{REFRESH}" in str(row.body):
        values["REFRESH"] = login(http, world["LOGIN"], world["PASSWORD"])["refresh_token"]
    caller = people[role]
    response = http.request(row.method, _fill(row.path, values), json=_fill(row.body, values),
                            headers=caller.headers if caller else {})
    expected = row.expected[ROLES.index(role)]
    assert response.status_code == expected, (row.method, row.path, role, response.text)
    if expected != 204:
        assert response.headers["content-type"].startswith("application/json")
