"""A learner's journey over HTTP through the local gateway: enroll, progress, completion, certificate; and who may
use each Enrollments / Progress / Certificates route."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from tests.e2e.lms.test_courses_authz import add_asset
from tests.e2e.support import Account, count, register

pytestmark = pytest.mark.e2e


def _published_course(http: httpx.Client, db: psycopg.Connection, teacher: Account, assets: int = 2) -> tuple[str,
                                                                                                            list[str]]:
    course = http.post("/api/v1/courses", json={"title": "Journey " + uuid.uuid4().hex[:6]}, headers=teacher.headers)
    assert course.status_code == 201, course.text
    course_id = course.json()["id"]
    module = http.post("/api/v1/modules", json={"course_id": course_id, "title": "Part 1"}, headers=teacher.headers)
    assert module.status_code == 201, module.text
    module_id = module.json()["id"]
    for i in range(assets):
        created = http.post("/api/v1/assets", json={"module_id": module_id, "title": f"Video {i}",
                                                    "asset_type": "video",
                                                    "source_url": f"https://videos.example.test/{i}"},
                            headers=teacher.headers)
        if created.status_code != 201:  # the assets routes are not deployed yet: insert the asset directly
            add_asset(db, module_id)
    ids = [r[0] for r in db.execute("SELECT a.id::text FROM assets a WHERE a.module_id = %s ORDER BY a.order_index, "
                                    "a.created_at, a.id", (module_id,)).fetchall()]
    published = http.post(f"/api/v1/courses/{course_id}/publish", headers=teacher.headers)
    assert published.status_code == 200, published.text
    return course_id, ids


def test_learner_journey_to_a_verifiable_certificate(http: httpx.Client, db: psycopg.Connection, instructor: Account,
                                                     student: Account) -> None:
    course_id, assets = _published_course(http, db, instructor)
    enrolled = http.post("/api/v1/enrollments", json={"course_id": course_id}, headers=student.headers)
    assert enrolled.status_code == 201, enrolled.text
    enrollment = enrolled.json()
    assert http.post("/api/v1/enrollments", json={"course_id": course_id},
                     headers=student.headers).status_code == 200
    mine = http.get("/api/v1/enrollments/me", headers=student.headers).json()
    assert [e["id"] for e in mine["items"]] == [enrollment["id"]] and mine["items"][0]["progress_percent"] == 0.0

    last: dict = {}
    for asset in assets:
        response = http.post(f"/api/v1/progress/assets/{asset}", json={"progress_percent": 100,
                                                                        "time_spent_seconds": 60},
                             headers=student.headers)
        assert response.status_code == 200, response.text
        last = response.json()
    assert last["enrollment_status"] == "completed" and last["course_progress"]["percent_complete"] == 100.0
    certificate_id = last["certificate_id"]
    assert http.get(f"/api/v1/enrollments/{enrollment['id']}", headers=student.headers).json()["status"] == "completed"
    progress = http.get(f"/api/v1/progress/courses/{course_id}/enrollment/{enrollment['id']}",
                        headers=student.headers).json()
    assert progress["percent_complete"] == 100.0 and progress["time_spent_seconds"] == 60 * len(assets)

    cert = http.get(f"/api/v1/certificates/{certificate_id}", headers=student.headers)
    assert cert.status_code == 200, cert.text
    body = cert.json()
    document = httpx.get(body["certificate_url"], timeout=30)
    assert document.status_code == 200
    assert "E2E student" in document.text and body["serial_no"] in document.text
    verified = http.get(f"/api/v1/certificates/verify/{body['serial_no']}")
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True and verified.json()["learner_name"] == "E2E student"
    assert http.get("/api/v1/certificates/verify/SC-AAAAAAAAAAAA").status_code == 404
    assert [c["id"] for c in http.get("/api/v1/certificates/me", headers=student.headers).json()["items"]] == [
        certificate_id]
    kinds = [r[0] for r in db.execute("SELECT event_type FROM outbox WHERE aggregate_id = %s ORDER BY id",
                                      (enrollment["id"],)).fetchall()]
    assert kinds == ["enrollment.created", *["progress.updated"] * len(assets), "enrollment.completed",
                     "certificate.issued"]
    assert count(db, "SELECT count(*) FROM certificates WHERE enrollment_id = %s", enrollment["id"]) == 1


def test_who_may_use_the_enrollment_routes(http: httpx.Client, db: psycopg.Connection, instructor: Account,
                                           admin: Account) -> None:
    owner_student, other_student, other_teacher = register(http), register(http), register(http, "instructor")
    course_id, [asset] = _published_course(http, db, instructor, assets=1)
    enrollment = http.post("/api/v1/enrollments", json={"course_id": course_id},
                           headers=owner_student.headers).json()
    done = http.post(f"/api/v1/progress/assets/{asset}", json={"is_completed": True}, headers=owner_student.headers)
    assert done.status_code == 200, done.text
    certificate_id = done.json()["certificate_id"]
    e, c, u = enrollment["id"], course_id, owner_student.id
    roles: dict[str, dict[str, str]] = {
        "anonymous": {}, "owner": owner_student.headers, "student": other_student.headers,
        "instructor": instructor.headers, "other": other_teacher.headers, "admin": admin.headers,
    }
    cases = [  # (method, path, body, expected per role in the order of ``roles``)
        ("GET", "/enrollments/me", None, (401, 200, 200, 200, 200, 200)),
        ("GET", f"/enrollments/{e}", None, (401, 200, 404, 200, 404, 200)),
        ("GET", f"/enrollments/user/{u}", None, (401, 200, 403, 403, 403, 200)),
        ("GET", f"/enrollments/course/{c}", None, (401, 403, 403, 200, 403, 200)),
        ("GET", f"/progress/assets/{asset}/enrollment/{e}", None, (401, 200, 404, 200, 404, 200)),
        ("GET", f"/progress/courses/{c}/enrollment/{e}", None, (401, 200, 404, 200, 404, 200)),
        ("POST", f"/progress/assets/{asset}", {"enrollment_id": e, "progress_percent": 100},
         (401, 200, 403, 403, 403, 200)),
        ("GET", "/certificates/me", None, (401, 200, 200, 200, 200, 200)),
        ("GET", f"/certificates/{certificate_id}", None, (401, 200, 404, 200, 404, 200)),
        ("PATCH", f"/enrollments/{e}", {"status": "completed"}, (401, 403, 404, 403, 404, 200)),
        ("DELETE", f"/enrollments/{uuid.uuid4()}", None, (401, 403, 403, 403, 403, 404)),
    ]
    for method, path, body, expected in cases:
        for (role, headers), status in zip(roles.items(), expected, strict=True):
            response = http.request(method, "/api/v1" + path, json=body, headers=headers)
            assert response.status_code == status, (method, path, role, response.text)
    enroll_other = {"course_id": course_id, "user_id": other_student.id}
    assert http.post("/api/v1/enrollments", json=enroll_other).status_code == 401
    assert http.post("/api/v1/enrollments", json=enroll_other, headers=other_teacher.headers).status_code == 403
    assert http.post("/api/v1/enrollments", json=enroll_other, headers=owner_student.headers).status_code == 403
    assert http.post("/api/v1/enrollments", json=enroll_other, headers=instructor.headers).status_code == 201
    assert http.delete(f"/api/v1/enrollments/{e}", headers=admin.headers).status_code == 204
