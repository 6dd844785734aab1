"""A course's life over HTTP through the local gateway: create, build, publish, find, archive; bad input."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests.e2e.lms.test_courses_authz import add_asset
from tests.e2e.support import Account, count, register

pytestmark = pytest.mark.e2e
COUNTS = ("SELECT count(*) FROM courses", "SELECT count(*) FROM modules", "SELECT count(*) FROM outbox")


@pytest.fixture
def teacher(http: httpx.Client) -> Account:
    return register(http, "instructor")


def test_course_lifecycle_over_http(http: httpx.Client, db: psycopg.Connection, teacher: Account,
                                    student: Account) -> None:
    category = "e2e-" + uuid.uuid4().hex[:8]
    created = http.post("/api/v1/courses", json={"title": "Gardening basics", "description": "Soil and seeds",
                                                 "category": category, "level": "beginner", "max_students": 2},
                        headers=teacher.headers)
    assert created.status_code == 201, created.text
    course = created.json()
    assert course["status"] == "draft"
    listed = http.get("/api/v1/courses", params={"category": category}, headers=student.headers).json()
    assert listed == {"items": [], "total": 0, "limit": 20, "offset": 0}

    problems = http.post(f"/api/v1/courses/{course['id']}/publish", headers=teacher.headers)
    assert problems.status_code == 422 and problems.json()["detail"][0]["msg"] == "Course has no modules"
    module = http.post("/api/v1/modules", json={"course_id": course["id"], "title": "Soil"}, headers=teacher.headers)
    assert module.status_code == 201
    add_asset(db, module.json()["id"])
    published = http.post(f"/api/v1/courses/{course['id']}/publish", headers=teacher.headers)
    assert published.status_code == 200 and published.json()["processing_status"] == "processing"
    assert count(db, "SELECT count(*) FROM outbox WHERE aggregate_id = %s AND event_type = 'course.published'",
                 course["id"]) == 1

    found = http.get("/api/v1/courses", params={"category": category, "q": "seeds"}, headers=student.headers).json()
    assert [c["id"] for c in found["items"]] == [course["id"]]
    detail = http.get(f"/api/v1/courses/{course['id']}", headers=student.headers).json()
    assert detail["modules_count"] == 1 and detail["enrolled_count"] == 0
    modules = http.get(f"/api/v1/modules/by-course/{course['id']}", headers=student.headers).json()
    assert [m["title"] for m in modules["items"]] == ["Soil"]

    status = http.patch(f"/api/v1/courses/{course['id']}", json={"status": "draft"}, headers=teacher.headers)
    assert status.status_code == 422
    archived = http.post(f"/api/v1/courses/{course['id']}/archive", headers=teacher.headers)
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert http.get(f"/api/v1/courses/{course['id']}", headers=student.headers).status_code == 404
    mine = http.get("/api/v1/courses", params={"status": "archived", "category": category},
                    headers=teacher.headers).json()
    assert [c["id"] for c in mine["items"]] == [course["id"]]
    assert http.post(f"/api/v1/courses/{course['id']}/publish", headers=teacher.headers).status_code == 409
    kinds = [r[0] for r in db.execute("SELECT event_type FROM outbox WHERE aggregate_id = %s ORDER BY id",
                                      (course["id"],)).fetchall()]
    assert kinds == ["course.created", "course.published", "course.archived"]


def test_prerequisite_cycle_is_refused(http: httpx.Client, teacher: Account) -> None:
    ids = [http.post("/api/v1/courses", json={"title": f"Chain {i}"}, headers=teacher.headers).json()["id"]
           for i in range(2)]
    assert http.post(f"/api/v1/courses/{ids[0]}/prerequisites/{ids[1]}", headers=teacher.headers).status_code == 204
    assert http.post(f"/api/v1/courses/{ids[1]}/prerequisites/{ids[0]}", headers=teacher.headers).status_code == 409
    assert http.post(f"/api/v1/courses/{ids[0]}/prerequisites/{ids[0]}", headers=teacher.headers).status_code == 400
    listed = http.get(f"/api/v1/courses/{ids[0]}/prerequisites", headers=teacher.headers).json()
    assert [c["id"] for c in listed["items"]] == [ids[1]]


@pytest.mark.parametrize(
    ("method", "path", "content", "expected"),
    [
        ("POST", "/api/v1/courses", b"{not json", 400),
        ("POST", "/api/v1/courses", b'{"title": ""}', 422),
        ("POST", "/api/v1/courses", b'{"title": "x", "max_students": 0}', 422),
        ("POST", "/api/v1/courses", b'{"title": "x", "level": "guru"}', 422),
        ("POST", "/api/v1/modules", b'{"title": "no course"}', 422),
        ("POST", "/api/v1/modules", b'{"course_id": "not-a-uuid", "title": "x"}', 422),
        ("GET", "/api/v1/courses?limit=500", None, 422),
        ("GET", "/api/v1/courses/not-a-uuid", None, 422),
    ],
)
def test_bad_course_input_is_4xx_and_writes_nothing(http: httpx.Client, db: psycopg.Connection, teacher: Account,
                                                    method: str, path: str, content: bytes | None,
                                                    expected: int) -> None:
    before = [count(db, sql) for sql in COUNTS]
    response = http.request(method, path, content=content,
                            headers={**teacher.headers, "Content-Type": "application/json"})
    assert response.status_code == expected, response.text
    assert "Traceback" not in response.text
    assert [count(db, sql) for sql in COUNTS] == before


def test_seeded_demo_courses_are_listed(http: httpx.Client, student: Account) -> None:
    found = http.get("/api/v1/courses", params={"q": "Python Beginners"}, headers=student.headers).json()
    assert "Python for Beginners" in [c["title"] for c in found["items"]]


def test_reads_are_open_to_anyone_but_a_bad_token_is_still_refused(http: httpx.Client) -> None:
    listing = http.get("/api/v1/courses")
    assert listing.status_code == 200
    assert all(course["status"] == "published" for course in listing.json()["items"])
    assert http.get("/api/v1/courses", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert http.get("/api/v1/courses", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401
    # Anonymous callers cannot use the staff-only status filter to see drafts.
    drafts = http.get("/api/v1/courses", params={"status": "draft"})
    assert drafts.status_code == 200
    assert drafts.json()["items"] == [] and drafts.json()["total"] == 0
