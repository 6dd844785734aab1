"""One whole learning journey over HTTP through the local gateway, checked end to end against the outbox.

An instructor builds and publishes a course with an uploaded article; a student enrolls, works through every
asset, completes the course and gets a verifiable certificate. Every state change left its event in the
outbox, in order, and every envelope is a valid event.
"""

from __future__ import annotations

import hashlib
import json

import httpx
import psycopg
import pytest
from smartcourse_events import parse_event

from tests.e2e.support import Account, register

pytestmark = pytest.mark.e2e

DOCUMENT = json.dumps({"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [
    {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Composting"}]},
    {"type": "paragraph", "content": [{"type": "text", "text": "Kitchen scraps turn into rich soil in time. " * 4}]},
    {"type": "bulletList", "content": [
        {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Greens"}]}]},
        {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Browns"}]}]},
    ]},
]}}).encode()


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    return response.json()


def test_a_course_from_its_first_article_to_a_learners_verified_certificate(
        http: httpx.Client, db: psycopg.Connection, instructor: Account) -> None:
    student = register(http, "student")
    teacher = instructor.headers

    # The instructor builds the course and uploads the article straight to S3.
    course = _ok(http.post("/api/v1/courses", json={"title": "Composting at home"}, headers=teacher), 201)
    module = _ok(http.post("/api/v1/modules", json={"course_id": course["id"], "title": "The heap"},
                           headers=teacher), 201)
    article = _ok(http.post("/api/v1/assets", json={"module_id": module["id"], "title": "What goes in",
                                                     "asset_type": "article"}, headers=teacher), 201)
    ticket = _ok(http.post(f"/api/v1/assets/{article['id']}/content/upload-url",
                           json={"content_type": "application/json", "size_bytes": len(DOCUMENT)}, headers=teacher))
    stored = httpx.put(ticket["upload_url"], content=DOCUMENT, headers=ticket["required_headers"], timeout=30)
    assert stored.status_code == 200, stored.text
    ready = _ok(http.post(f"/api/v1/assets/{article['id']}/content/complete", headers=teacher))
    assert ready["status"] == "ready" and ready["content_hash"] == hashlib.sha256(DOCUMENT).hexdigest()
    assert _ok(http.post(f"/api/v1/courses/{course['id']}/publish", headers=teacher))["status"] == "published"

    # The student enrolls, reads the article and records progress on every asset of the course.
    enrollment = _ok(http.post("/api/v1/enrollments", json={"course_id": course["id"]}, headers=student.headers),
                     201)
    assert enrollment["status"] == "active"
    content = _ok(http.get(f"/api/v1/assets/{article['id']}/content", headers=student.headers))
    assert httpx.get(content["content_url"], timeout=30).content == DOCUMENT
    assets = [a["id"] for a in _ok(http.get(f"/api/v1/assets/by-module/{module['id']}",
                                            headers=student.headers))["items"]]
    assert assets == [article["id"]]
    last: dict = {}
    for asset_id in assets:
        last = _ok(http.post(f"/api/v1/progress/assets/{asset_id}",
                             json={"progress_percent": 100, "time_spent_seconds": 90}, headers=student.headers))
    assert last["enrollment_status"] == "completed" and last["course_progress"]["percent_complete"] == 100.0
    assert _ok(http.get(f"/api/v1/enrollments/{enrollment['id']}", headers=student.headers))["status"] == "completed"

    # The certificate: a rendered document naming the learner and its serial, verifiable without a token.
    certificate = _ok(http.get(f"/api/v1/certificates/{last['certificate_id']}", headers=student.headers))
    assert certificate["enrollment_id"] == enrollment["id"] and certificate["course_id"] == course["id"]
    rendered = httpx.get(certificate["certificate_url"], timeout=30)
    assert rendered.status_code == 200
    assert "E2E student" in rendered.text and certificate["serial_no"] in rendered.text
    verified = _ok(http.get(f"/api/v1/certificates/verify/{certificate['serial_no']}"))
    assert verified["valid"] is True and verified["learner_name"] == "E2E student"
    assert verified["course_title"] == "Composting at home"

    # The outbox holds every event of the journey, in commit order, each a valid envelope.
    rows = db.execute("SELECT event_id, aggregate_type, aggregate_id::text, event_type, envelope FROM outbox "
                      "WHERE aggregate_id IN (%s, %s) ORDER BY id", (course["id"], enrollment["id"])).fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("course", course["id"], "course.created"),
        ("course", course["id"], "course.published"),
        ("enrollment", enrollment["id"], "enrollment.created"),
        *[("enrollment", enrollment["id"], "progress.updated")] * len(assets),
        ("enrollment", enrollment["id"], "enrollment.completed"),
        ("enrollment", enrollment["id"], "certificate.issued"),
    ]
    for event_id, aggregate_type, aggregate_id, event_type, raw in rows:
        envelope, payload = parse_event(raw)
        assert (envelope.event_id, envelope.event_type) == (event_id, event_type)
        assert (envelope.aggregate_type, str(envelope.aggregate_id)) == (aggregate_type, aggregate_id)
        assert payload.aggregate_type == aggregate_type
    published = parse_event(rows[1][4])[1].model_dump(mode="json")
    assert article["id"] in json.dumps(published)
    issued = parse_event(rows[-1][4])[1].model_dump(mode="json")
    assert issued["certificate_id"] == certificate["id"] and issued["serial_no"] == certificate["serial_no"]
