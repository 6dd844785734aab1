"""An article's life over HTTP through the local gateway: create, upload straight to S3, complete, publish, read."""

from __future__ import annotations

import hashlib
import json

import httpx
import psycopg
import pytest

from tests.e2e.support import Account, count, register

pytestmark = pytest.mark.e2e

DOCUMENT = json.dumps({"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [
    {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Seeds"}]},
    {"type": "paragraph", "content": [{"type": "text", "text": "A seed holds a plant in waiting. " * 6}]},
]}}).encode()


def test_instructor_publishes_a_course_with_an_uploaded_article(http: httpx.Client, db: psycopg.Connection,
                                                                 student: Account) -> None:
    teacher = register(http, "instructor")
    course = http.post("/api/v1/courses", json={"title": "Seeds"}, headers=teacher.headers).json()
    module = http.post("/api/v1/modules", json={"course_id": course["id"], "title": "Basics"},
                       headers=teacher.headers).json()
    created = http.post("/api/v1/assets", json={"module_id": module["id"], "title": "Reading",
                                                "asset_type": "article", "client_only": True},
                        headers=teacher.headers)
    assert created.status_code == 201, created.text
    article = created.json()
    assert article["status"] == "draft"
    not_yet = http.post(f"/api/v1/courses/{course['id']}/publish", headers=teacher.headers)
    assert not_yet.status_code == 422

    ticket = http.post(f"/api/v1/assets/{article['id']}/content/upload-url",
                       json={"content_type": "application/json", "size_bytes": len(DOCUMENT)},
                       headers=teacher.headers)
    assert ticket.status_code == 200, ticket.text
    upload = ticket.json()
    assert upload["expires_in"] == 600
    assert http.get(f"/api/v1/assets/{article['id']}", headers=teacher.headers).json()["status"] == "upload_pending"
    stored = httpx.put(upload["upload_url"], content=DOCUMENT, headers=upload["required_headers"])
    assert stored.status_code == 200, stored.text

    completed = http.post(f"/api/v1/assets/{article['id']}/content/complete", headers=teacher.headers)
    assert completed.status_code == 200, completed.text
    done = completed.json()
    assert done["status"] == "ready" and done["size_bytes"] == len(DOCUMENT)
    assert done["content_hash"] == hashlib.sha256(DOCUMENT).hexdigest() and done["content_version"] == 1

    published = http.post(f"/api/v1/courses/{course['id']}/publish", headers=teacher.headers)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert count(db, "SELECT count(*) FROM outbox WHERE aggregate_id = %s AND event_type = 'course.published'",
                 course["id"]) == 1

    # Readers see the asset; only staff and enrolled students get the content.
    listed = http.get(f"/api/v1/assets/by-module/{module['id']}").json()
    assert [a["id"] for a in listed["items"]] == [article["id"]] and listed["items"][0]["content_url"] is None
    assert http.get(f"/api/v1/assets/{article['id']}/content", headers=student.headers).status_code == 403
    db.execute("INSERT INTO enrollments (id, user_id, course_id, status) VALUES (gen_random_uuid(), %s, %s, 'active')",
               (student.id, course["id"]))
    content = http.get(f"/api/v1/assets/{article['id']}/content", headers=student.headers)
    assert content.status_code == 200, content.text
    assert httpx.get(content.json()["content_url"]).content == DOCUMENT
    detail = http.get(f"/api/v1/assets/{article['id']}", headers=student.headers).json()
    assert httpx.get(detail["content_url"]).content == DOCUMENT


def test_rejected_upload_over_http_lists_the_problems(http: httpx.Client) -> None:
    teacher = register(http, "instructor")
    course = http.post("/api/v1/courses", json={"title": "Broken"}, headers=teacher.headers).json()
    module = http.post("/api/v1/modules", json={"course_id": course["id"], "title": "M"},
                       headers=teacher.headers).json()
    article = http.post("/api/v1/assets", json={"module_id": module["id"], "title": "A", "asset_type": "article"},
                        headers=teacher.headers).json()
    bad = b'{"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [{"type": "heading"}]}}'
    upload = http.post(f"/api/v1/assets/{article['id']}/content/upload-url",
                       json={"content_type": "application/json", "size_bytes": len(bad)},
                       headers=teacher.headers).json()
    assert httpx.put(upload["upload_url"], content=bad, headers=upload["required_headers"]).status_code == 200
    rejected = http.post(f"/api/v1/assets/{article['id']}/content/complete", headers=teacher.headers)
    assert rejected.status_code == 400
    assert "$.doc.content[0].attrs.level" in [p["path"] for p in rejected.json()["problems"]]
    assert http.get(f"/api/v1/assets/{article['id']}", headers=teacher.headers).json()["status"] == "rejected"
    too_big = http.post(f"/api/v1/assets/{article['id']}/content/upload-url",
                        json={"content_type": "application/json", "size_bytes": 2 * 1024 * 1024 + 1},
                        headers=teacher.headers)
    assert too_big.status_code == 413
